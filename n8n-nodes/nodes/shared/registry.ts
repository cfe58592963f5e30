import type { ILoadOptionsFunctions, INodePropertyOptions } from 'n8n-workflow';

import { withGateway } from './transport';

interface AgentSummary {
	agentId: string;
	name?: string;
	description?: string;
	status?: string;
}

interface CapabilitySummary {
	/** The task type. */
	id: string;
	/** Its human name. */
	name: string;
	description?: string;
}

const byName = (a: INodePropertyOptions, b: INodePropertyOptions) => a.name.localeCompare(b.name);

/** The gateway's registry (GET /agents) as editor options: "Name (agentId)", sorted by name. */
export async function agentOptions(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
	const agents = (await withGateway(this, (client) => client.listAgents())) as AgentSummary[] | undefined;
	return (agents ?? [])
		.map((agent) => ({
			name: agent.name && agent.name !== agent.agentId ? `${agent.name} (${agent.agentId})` : agent.agentId,
			value: agent.agentId,
			description: [agent.description, agent.status && agent.status !== 'active' ? `status: ${agent.status}` : '']
				.filter(Boolean)
				.join(' - '),
		}))
		.sort(byName);
}

/** An agent's capabilities from its card (GET /agents/:agentId) as editor options: "Human Name (id)", sorted. */
export async function capabilityOptions(this: ILoadOptionsFunctions, agentId: string): Promise<INodePropertyOptions[]> {
	const card = (await withGateway(this, (client) => client.getCard(agentId))) as {
		capabilities?: CapabilitySummary[];
	};
	return (card.capabilities ?? [])
		.map((capability) => ({
			name: capability.name && capability.name !== capability.id ? `${capability.name} (${capability.id})` : capability.id,
			value: capability.id,
			description: capability.description ?? '',
		}))
		.sort(byName);
}

/** A parameter's value as the editor has it now (unsaved edits included), as a string. */
export function currentParameter(context: ILoadOptionsFunctions, name: string): string {
	const current = context.getCurrentNodeParameter(name);
	const value = current ?? context.getNodeParameter(name, '');
	return typeof value === 'string' ? value.trim() : String(value ?? '');
}
