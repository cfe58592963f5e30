/**
 * The trigger side of the n8n host (support/n8n-host.ts) for the A2A Trigger's tests: workflow
 * activation and deactivation the way n8n's ActiveWorkflowManager and WebhookService do them
 * (checkExists, then create when it says false; delete on deactivation; n8n-core's HookContext;
 * the node's static data saved as JSON between calls, as n8n keeps it in its database), and the
 * production webhook endpoint `<webhookBaseUrl>/<node.webhookId>/webhook` that reads the raw body
 * as n8n's body reader does and runs the node's webhook() in n8n-core's WebhookContext.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders, Server } from 'node:http';

import express from 'express';
import { HookContext, WebhookContext } from 'n8n-core';
import type {
	IDataObject,
	INode,
	INodeCredentialsDetails,
	INodeExecutionData,
	INodeParameters,
	IWebhookData,
	IWorkflowExecuteAdditionalData,
	WorkflowActivateMode,
	WorkflowExecuteMode,
} from 'n8n-workflow';
import { Workflow } from 'n8n-workflow';

import { A2aTrigger } from '../../nodes/A2aTrigger/A2aTrigger.node';
import { PACKAGE, packageNode, type N8nHost } from './n8n-host';

export const TRIGGER_NODE_TYPE = `${PACKAGE}.a2aTrigger`;

/** One request to a trigger's webhook URL and what n8n made of it. */
export interface WebhookCall {
	headers: IncomingHttpHeaders;
	rawBody: Buffer;
	status: number;
	/** The items of the workflow run it started; undefined when it started none. */
	items?: INodeExecutionData[];
}

type LifecycleMethod = 'checkExists' | 'create' | 'delete';

/** A workflow made of one A2A Trigger, activated and deactivated as n8n does it. */
export class TriggerWorkflow {
	readonly id = `wf-${randomUUID().slice(0, 8)}`;
	readonly node: INode;
	/** The workflow's static data as n8n stores it: plain JSON, saved after every lifecycle call. */
	staticData: IDataObject = {};
	readonly calls: WebhookCall[] = [];

	constructor(
		private readonly hosts: TriggerHost,
		parameters: INodeParameters,
		credential: INodeCredentialsDetails,
	) {
		this.node = packageNode('A2A Trigger', TRIGGER_NODE_TYPE, parameters, credential, { webhookId: randomUUID() });
	}

	/** The URL n8n serves the trigger's webhook at (production). */
	get webhookUrl(): string {
		return `${this.hosts.webhookBaseUrl}/${this.node.webhookId}/webhook`;
	}

	/** The node's part of the static data ({webhookId, secret} once activated). */
	get nodeStaticData(): IDataObject {
		return (this.staticData[`node:${this.node.name}`] as IDataObject | undefined) ?? {};
	}

	setParameters(parameters: INodeParameters): void {
		this.node.parameters = parameters;
	}

	/** As a workflow is loaded from the database: its nodes and saved static data. */
	private load(): Workflow {
		return new Workflow({
			id: this.id,
			name: 'A2A Trigger test',
			nodes: [{ ...this.node, parameters: { ...this.node.parameters } }],
			connections: {},
			active: true,
			nodeTypes: this.hosts.host.nodeTypes,
			staticData: JSON.parse(JSON.stringify(this.staticData)) as IDataObject,
			settings: { executionOrder: 'v1' },
		});
	}

	private webhookData(additionalData: IWorkflowExecuteAdditionalData): IWebhookData {
		return {
			httpMethod: 'POST',
			node: this.node.name,
			path: `${this.node.webhookId}/webhook`,
			webhookDescription: this.hosts.trigger.description.webhooks![0],
			workflowId: this.id,
			workflowExecuteAdditionalData: additionalData,
			webhookId: this.node.webhookId,
		};
	}

	/** One webhookMethods call in n8n-core's HookContext; the static data is saved afterwards, as n8n does. */
	async lifecycle(method: LifecycleMethod, mode: WorkflowExecuteMode = 'trigger', activation: WorkflowActivateMode = 'activate'): Promise<boolean> {
		const workflow = this.load();
		const node = workflow.getNode(this.node.name)!;
		const additionalData = this.hosts.additionalData();
		const context = new HookContext(workflow, node, additionalData, mode, activation, this.webhookData(additionalData));
		const fn = this.hosts.trigger.webhookMethods.default[method];
		try {
			return await fn.call(context);
		} finally {
			this.staticData = JSON.parse(JSON.stringify(workflow.staticData)) as IDataObject;
		}
	}

	/** Activation (ActiveWorkflowManager.addWebhooks): checkExists, then create when it said false. Returns whether it created. */
	async activate(): Promise<boolean> {
		if (await this.lifecycle('checkExists', 'trigger', 'activate')) return false;
		await this.lifecycle('create', 'trigger', 'activate');
		return true;
	}

	/** Deactivation (ActiveWorkflowManager.deregisterWebhooks). */
	async deactivate(): Promise<boolean> {
		return await this.lifecycle('delete', 'internal', 'update');
	}

	/** Runs webhook() for a request to this workflow's webhook URL and answers as n8n does. */
	async receive(req: express.Request, res: express.Response): Promise<void> {
		const workflow = this.load();
		const node = workflow.getNode(this.node.name)!;
		const additionalData = this.hosts.additionalData();
		additionalData.httpRequest = req;
		additionalData.httpResponse = res;
		const context = new WebhookContext(workflow, node, additionalData, 'webhook', this.webhookData(additionalData), [], null);
		const call: WebhookCall = { headers: req.headers, rawBody: req.rawBody, status: 0 };
		const result = await this.hosts.trigger.webhook.call(context);
		// webhook-helpers' executeWebhook with responseMode "onReceived".
		if (!result.noWebhookResponse) {
			if (result.workflowData === undefined) res.status(200).json(result.webhookResponse ?? { message: 'Webhook call received' });
			else res.status(200).json({ message: 'Workflow was started' });
		}
		call.status = res.statusCode;
		if (result.workflowData !== undefined) call.items = result.workflowData[0];
		this.calls.push(call);
	}

	/** The items of the workflow runs the trigger started, in order. */
	get runs(): INodeExecutionData[][] {
		return this.calls.filter((c) => c.items !== undefined).map((c) => c.items!);
	}

	/** Waits until `n` requests reached the webhook URL. */
	async waitForCalls(n: number, timeoutMs = 15_000): Promise<WebhookCall[]> {
		const until = Date.now() + timeoutMs;
		while (this.calls.length < n) {
			if (Date.now() > until) throw new Error(`trigger webhook got ${this.calls.length} of ${n} requests in ${timeoutMs} ms`);
			await new Promise((r) => setTimeout(r, 25));
		}
		return this.calls.slice(0, n);
	}
}

/** The trigger node type registered with the host, and the HTTP server of the production webhooks. */
export class TriggerHost {
	readonly trigger = new A2aTrigger();
	private readonly workflows = new Map<string, TriggerWorkflow>();
	private server?: Server;
	webhookBaseUrl = 'http://127.0.0.1:0/webhook';

	constructor(readonly host: N8nHost) {
		host.register(TRIGGER_NODE_TYPE, this.trigger);
	}

	additionalData(): IWorkflowExecuteAdditionalData {
		const additionalData = this.host.additionalData(randomUUID(), []);
		additionalData.webhookBaseUrl = this.webhookBaseUrl;
		additionalData.webhookTestBaseUrl = this.webhookBaseUrl.replace(/\/webhook$/, '/webhook-test');
		return additionalData;
	}

	workflow(parameters: INodeParameters, credential: INodeCredentialsDetails): TriggerWorkflow {
		const workflow = new TriggerWorkflow(this, parameters, credential);
		this.workflows.set(workflow.node.webhookId!, workflow);
		return workflow;
	}

	async listen(): Promise<string> {
		const app = express();
		app.post('/webhook/:webhookId/webhook', (req, res) => {
			const workflow = this.workflows.get(String(req.params.webhookId));
			if (!workflow) {
				res.status(404).json({ message: 'The requested webhook is not registered.' });
				return;
			}
			this.readBody(req)
				.then(async (ok) => {
					if (!ok) {
						res.status(422).json({ message: 'Failed to parse request body' });
						return;
					}
					await workflow.receive(req, res);
				})
				.catch((error: Error) => {
					if (!res.headersSent) res.status(500).json({ message: error.message });
				});
		});
		await new Promise<void>((resolve) => {
			this.server = app.listen(0, '127.0.0.1', () => resolve());
		});
		const { port } = this.server!.address() as { port: number };
		this.webhookBaseUrl = `http://127.0.0.1:${port}/webhook`;
		return this.webhookBaseUrl;
	}

	/**
	 * n8n's rawBodyReader and parseBody: the bytes as received in `rawBody`, whatever the content
	 * type; JSON parsed into `body`. False when a JSON body does not parse (n8n answers 422).
	 */
	private async readBody(req: express.Request): Promise<boolean> {
		const chunks: Buffer[] = [];
		for await (const chunk of req) chunks.push(chunk as Buffer);
		req.rawBody = Buffer.concat(chunks);
		req.body = {};
		if (req.rawBody.length && /^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
			try {
				req.body = JSON.parse(req.rawBody.toString('utf8'));
			} catch {
				return false;
			}
		}
		return true;
	}

	async close(): Promise<void> {
		const server = this.server;
		if (!server) return;
		server.closeAllConnections();
		await new Promise<void>((resolve) => server.close(() => resolve()));
	}
}
