/**
 * The task API as the A2A Agent node uses it: agent cards (cached per execution), creating,
 * reading, listing and cancelling tasks, and following tasks until they finish.
 */
import type { IDataObject, IExecuteFunctions, ILoadOptionsFunctions, IWebhookFunctions } from 'n8n-workflow';
import { sleep } from 'n8n-workflow';

import { TERMINAL_STATUSES, RESULT_PAGE_SIZE, type CreateTaskRequest } from '@dealscale/a2a-client';

import { withGateway } from '../shared/transport';
import type { JsonSchema } from './schema';

/** A task as GET /agents/:agentId/tasks/:taskId returns it. */
export interface TaskView extends IDataObject {
	taskId: string;
	agentId: string;
	type: string;
	status: string;
	progress?: number | null;
	progressMessage?: string | null;
	error?: { code?: string; message?: string } | null;
}

export interface CapabilityCard extends IDataObject {
	/** The task type. */
	id: string;
	/** Its human name. */
	name: string;
	description?: string;
	inputSchema?: JsonSchema;
}

export interface AgentCard extends IDataObject {
	agentId: string;
	name?: string;
	capabilities: CapabilityCard[];
}

export const isTerminal = (task: { status?: unknown }) =>
	typeof task.status === 'string' && (TERMINAL_STATUSES as string[]).includes(task.status);

type Context = IExecuteFunctions | ILoadOptionsFunctions | IWebhookFunctions;

export async function getAgentCard(this: Context, agentId: string, itemIndex?: number): Promise<AgentCard> {
	return (await withGateway(this, (client) => client.getCard(agentId), { itemIndex })) as AgentCard;
}

/** Agent cards fetched once per execution, whatever the number of items. */
export class CardCache {
	private readonly cards = new Map<string, Promise<AgentCard>>();

	constructor(private readonly context: IExecuteFunctions) {}

	async capability(agentId: string, capability: string, itemIndex: number): Promise<CapabilityCard | undefined> {
		let card = this.cards.get(agentId);
		if (!card) {
			card = getAgentCard.call(this.context, agentId, itemIndex);
			this.cards.set(agentId, card);
			// A failed fetch is not kept: the next item may succeed.
			card.catch(() => this.cards.delete(agentId));
		}
		return (await card).capabilities?.find((c) => c.id === capability);
	}
}

export async function createTask(
	this: IExecuteFunctions,
	agentId: string,
	body: IDataObject,
	itemIndex: number,
): Promise<TaskView> {
	return (await withGateway(this, (client) => client.createTask({ ...body, agentId } as unknown as CreateTaskRequest), { itemIndex })) as unknown as TaskView;
}

export async function getTask(this: Context, agentId: string, taskId: string, itemIndex?: number): Promise<TaskView> {
	return (await withGateway(this, (client) => client.getTask(taskId, { agentId }), { itemIndex })) as unknown as TaskView;
}

export async function cancelTask(
	this: IExecuteFunctions,
	agentId: string,
	taskId: string,
	reason: string | undefined,
	itemIndex?: number,
	afterStop = false,
): Promise<TaskView> {
	return (await withGateway(this, (client) => client.cancelTask(taskId, reason, { agentId }), { itemIndex, afterStop })) as unknown as TaskView;
}

/**
 * Every row of a completed task's result set (outputs.resultSet), following `nextCursor` from the
 * first page to the last.
 */
export async function resultRows(this: IExecuteFunctions, agentId: string, taskId: string, itemIndex: number): Promise<IDataObject[]> {
	return await withGateway(
		this,
		async (client) => {
			const rows: IDataObject[] = [];
			for await (const row of client.results(taskId, { agentId, limit: RESULT_PAGE_SIZE })) rows.push(row as IDataObject);
			return rows;
		},
		{ itemIndex },
	);
}

/** Tasks per list request; the gateway allows up to 500. */
const PAGE_SIZE = 100;

/** Tasks of an agent, newest first, following `nextCursor` until `limit` tasks (or all, for undefined). */
export async function listTasks(
	this: IExecuteFunctions,
	agentId: string,
	filter: { status?: string; type?: string },
	limit: number | undefined,
	itemIndex: number,
): Promise<TaskView[]> {
	const tasks: TaskView[] = [];
	let cursor: string | undefined;
	do {
		const pageSize = limit === undefined ? PAGE_SIZE : Math.min(PAGE_SIZE, limit - tasks.length);
		const page = await withGateway(this, (client) => client.listTasks(agentId, { ...filter, limit: pageSize, cursor }), { itemIndex });
		tasks.push(...((page.tasks ?? []) as unknown as TaskView[]));
		cursor = page.nextCursor ?? undefined;
	} while (cursor && (limit === undefined || tasks.length < limit));
	return limit === undefined ? tasks : tasks.slice(0, limit);
}

/**
 * Sleeps `ms`, in slices of at most a second so a cancelled execution is noticed quickly.
 * Resolves to false when the execution was cancelled.
 */
export async function pause(this: IExecuteFunctions, ms: number): Promise<boolean> {
	const signal = this.getExecutionCancelSignal();
	let left = ms;
	while (left > 0) {
		if (signal?.aborted) return false;
		const slice = Math.min(left, 1000);
		await sleep(slice);
		left -= slice;
	}
	return !signal?.aborted;
}
