/**
 * The host side of n8n for the node pack's unit tests, kept small and real. n8n-core runs the
 * nodes (WorkflowExecute and its node contexts, its HTTP client, expressions); this file supplies
 * what the n8n server puts around it: the node and credential type registries, stored credentials
 * with the server's `authenticate` / `preAuthentication` semantics, execution lifecycle hooks, and
 * the waiting-webhook endpoint that resumes an execution at `$execution.resumeUrl`.
 * Requests from the nodes really go over HTTP to wherever the credential points.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

// n8n-core keeps its instance settings in the user folder; never the real one of this machine.
const ownUserFolder = process.env.N8N_USER_FOLDER ? undefined : mkdtempSync(join(tmpdir(), 'n8n-a2a-test-'));
if (ownUserFolder) process.env.N8N_USER_FOLDER = ownUserFolder;

import { Logger } from '@n8n/backend-common';
import { Container } from '@n8n/di';
import express from 'express';
import { ExecutionLifecycleHooks, LoadOptionsContext, WebhookContext, WorkflowExecute } from 'n8n-core';
import type {
	ICredentialDataDecryptedObject,
	ICredentialType,
	ICredentialTypes,
	ICredentials,
	IDataObject,
	IHttpRequestHelper,
	IHttpRequestOptions,
	INode,
	INodeCredentialsDetails,
	INodeExecutionData,
	INodeParameters,
	INodeType,
	INodeTypes,
	IRun,
	IRunExecutionData,
	IWebhookData,
	IWorkflowExecuteAdditionalData,
	WorkflowExecuteMode,
} from 'n8n-workflow';
import { createRunExecutionData, ICredentialsHelper, isExpression, Workflow } from 'n8n-workflow';

import { DealScaleA2AApi } from '../../credentials/DealScaleA2AApi.credentials';
import { A2aAgent } from '../../nodes/A2aAgent/A2aAgent.node';

export const PACKAGE = 'n8n-nodes-dealscale-a2a';
export const AGENT_NODE_TYPE = `${PACKAGE}.a2aAgent`;
export const CREDENTIAL_TYPE = 'dealScaleA2AApi';

/** A node of this package as a workflow holds it: the given type, parameters and credential. */
export function packageNode(
	name: string,
	type: string,
	parameters: INodeParameters,
	credential: INodeCredentialsDetails,
	extra: Partial<INode> = {},
): INode {
	return { id: randomUUID(), name, type, typeVersion: 1, position: [0, 0], parameters, credentials: { [CREDENTIAL_TYPE]: credential }, ...extra };
}

/** Log lines the nodes wrote through `this.logger`, in place of n8n's console logger. */
export interface LogLine {
	level: 'error' | 'warn' | 'info' | 'debug';
	message: string;
	meta?: unknown;
}

class CapturingLogger {
	constructor(readonly lines: LogLine[]) {}
	error(message: string, meta?: unknown) {
		this.lines.push({ level: 'error', message, meta });
	}
	warn(message: string, meta?: unknown) {
		this.lines.push({ level: 'warn', message, meta });
	}
	info(message: string, meta?: unknown) {
		this.lines.push({ level: 'info', message, meta });
	}
	debug(message: string, meta?: unknown) {
		this.lines.push({ level: 'debug', message, meta });
	}
	scoped() {
		return this;
	}
}

class NodeTypes implements INodeTypes {
	private readonly types = new Map<string, INodeType>();

	register(name: string, type: INodeType) {
		this.types.set(name, type);
	}

	getByName(name: string): INodeType {
		const type = this.types.get(name);
		if (!type) throw new Error(`unknown node type ${name}`);
		return type;
	}

	getByNameAndVersion(name: string): INodeType {
		return this.getByName(name);
	}

	getKnownTypes(): IDataObject {
		return Object.fromEntries([...this.types.keys()].map((name) => [name, {}]));
	}
}

class CredentialTypes implements ICredentialTypes {
	private readonly types = new Map<string, ICredentialType>();

	register(type: ICredentialType) {
		this.types.set(type.name, type);
	}

	recognizes(name: string) {
		return this.types.has(name);
	}

	getByName(name: string): ICredentialType {
		const type = this.types.get(name);
		if (!type) throw new Error(`unknown credential type ${name}`);
		return type;
	}

	getSupportedNodes(): string[] {
		return [];
	}

	getParentTypes(): string[] {
		return [];
	}
}

interface StoredCredential {
	id: string;
	name: string;
	type: string;
	data: ICredentialDataDecryptedObject;
}

/**
 * Stored credentials and what the n8n server does with them around a request: generic
 * `authenticate` with expressions over `$credentials`, and `preAuthentication` for a hidden
 * expirable field (run when it is empty or after a 401, its output saved to the credential).
 */
export class CredentialsHelper extends ICredentialsHelper {
	readonly stored = new Map<string, StoredCredential>();

	/** How often preAuthentication produced a new expirable value, per credential id. */
	readonly refreshes = new Map<string, number>();

	constructor(private readonly types: CredentialTypes) {
		super();
	}

	add(type: string, data: ICredentialDataDecryptedObject, name = `${type} credential`): INodeCredentialsDetails {
		const id = randomUUID();
		this.stored.set(id, { id, name, type, data: { ...data } });
		return { id, name };
	}

	getParentTypes(): string[] {
		return [];
	}

	isCredentialUsableByNode(): boolean {
		return true;
	}

	async authenticate(
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		requestOptions: IHttpRequestOptions,
		workflow?: Workflow,
		node?: INode,
	): Promise<IHttpRequestOptions> {
		const { authenticate } = this.types.getByName(typeName);
		if (typeof authenticate === 'function') return await authenticate(credentials, requestOptions);
		if (!authenticate || authenticate.type !== 'generic') return requestOptions;
		if (!workflow || !node) throw new Error('declarative authentication needs the workflow and node');
		const resolve = (value: unknown) =>
			isExpression(value)
				? String(workflow.expression.getSimpleParameterValue(node, value as string, 'internal', { $credentials: credentials }, undefined, '') ?? '')
				: value;
		const target = requestOptions as unknown as Record<string, Record<string, unknown>>;
		for (const [section, entries] of Object.entries(authenticate.properties)) {
			target[section] ??= {};
			for (const [key, value] of Object.entries(entries as Record<string, unknown>)) {
				target[section][String(resolve(key))] = resolve(value);
			}
		}
		return requestOptions;
	}

	async preAuthentication(
		helpers: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
		node: INode,
		credentialsExpired: boolean,
	): Promise<ICredentialDataDecryptedObject | undefined> {
		const type = this.types.getByName(typeName);
		const expirable = type.properties.find((p) => p.type === 'hidden' && p.typeOptions?.expirable === true);
		if (!expirable || typeof type.preAuthentication !== 'function') return undefined;
		if (credentials[expirable.name] !== '' && credentials[expirable.name] !== undefined && !credentialsExpired) return undefined;
		const output = await type.preAuthentication.call(helpers, credentials);
		if (output[expirable.name] === undefined) return undefined;
		const details = node.credentials?.[typeName];
		if (details?.id) {
			const stored = this.stored.get(details.id);
			if (stored) stored.data = { ...stored.data, ...(output as ICredentialDataDecryptedObject) };
			this.refreshes.set(details.id, (this.refreshes.get(details.id) ?? 0) + 1);
		}
		return Object.assign(credentials, output);
	}

	async runPreAuthentication(
		helpers: IHttpRequestHelper,
		credentials: ICredentialDataDecryptedObject,
		typeName: string,
	): Promise<ICredentialDataDecryptedObject | undefined> {
		const type = this.types.getByName(typeName);
		if (typeof type.preAuthentication !== 'function') return undefined;
		return (await type.preAuthentication.call(helpers, credentials)) as ICredentialDataDecryptedObject;
	}

	async getDecrypted(
		_additionalData: IWorkflowExecuteAdditionalData,
		nodeCredentials: INodeCredentialsDetails,
		type: string,
	): Promise<ICredentialDataDecryptedObject> {
		const stored = nodeCredentials.id ? this.stored.get(nodeCredentials.id) : undefined;
		if (!stored || stored.type !== type) throw new Error(`no ${type} credential "${nodeCredentials.name}"`);
		return { ...stored.data };
	}

	async getCredentials(): Promise<ICredentials> {
		throw new Error('encrypted credentials are not used in these tests');
	}

	async updateCredentials(nodeCredentials: INodeCredentialsDetails, _type: string, data: ICredentialDataDecryptedObject) {
		const stored = nodeCredentials.id ? this.stored.get(nodeCredentials.id) : undefined;
		if (stored) stored.data = { ...data };
	}

	async updateCredentialsOauthTokenData(): Promise<void> {}

	getCredentialsProperties(type: string) {
		return this.types.getByName(type).properties;
	}
}

export interface Execution {
	id: string;
	status: 'success' | 'error' | 'waiting' | 'running';
	run: IRun;
	/** The first output of the node under test in its last run; undefined when it failed. */
	output?: INodeExecutionData[];
	/** The error output (onError 'continueErrorOutput') of the node under test in its last run. */
	errorOutput?: INodeExecutionData[];
	error?: Error & { description?: string; httpCode?: string | null; context?: IDataObject; node?: INode };
	/** Messages the node sent to the editor's console (manual executions). */
	uiMessages: unknown[];
	/** Resolves when a waiting execution was resumed and finished again. */
	resumed?: Promise<Execution>;
}

interface Stored {
	execution: Execution;
	workflow: Workflow;
	node: INode;
	mode: WorkflowExecuteMode;
	data: IRunExecutionData;
	resolveResumed?: (execution: Execution) => void;
}

export interface RunNodeOptions {
	parameters: INodeParameters;
	/** Input items (JSON); one empty item when left out. */
	items?: IDataObject[];
	credential: INodeCredentialsDetails;
	mode?: WorkflowExecuteMode;
	/** n8n's "On Error" setting of the node. */
	onError?: INode['onError'];
	name?: string;
	/** Stops the execution after this many milliseconds, as the editor's stop button does. */
	cancelAfterMs?: number;
}

/** An n8n instance reduced to what the node pack needs. */
export class N8nHost {
	readonly logs: LogLine[] = [];
	readonly nodeTypes = new NodeTypes();
	readonly credentialTypes = new CredentialTypes();
	readonly credentials = new CredentialsHelper(this.credentialTypes);
	/** Requests to the waiting-webhook endpoint and the answers, for assertions. */
	readonly waitingWebhookCalls: Array<{ executionId: string; status: number; body: unknown }> = [];

	private readonly executions = new Map<string, Stored>();
	private server?: Server;
	private baseUrl = 'http://127.0.0.1:0';

	constructor() {
		Container.set(Logger, new CapturingLogger(this.logs) as unknown as Logger);
		this.nodeTypes.register(AGENT_NODE_TYPE, new A2aAgent());
		this.credentialTypes.register(new DealScaleA2AApi());
	}

	register(name: string, type: INodeType) {
		this.nodeTypes.register(name, type);
	}

	/** Starts the HTTP side (the waiting webhooks); the resume URLs point at it. */
	async listen(): Promise<string> {
		const app = express();
		// As n8n does: the parsed body for the node, the raw bytes for signature checks.
		app.use(
			express.json({
				limit: '16mb',
				verify: (req, _res, buf) => {
					(req as unknown as { rawBody: Buffer }).rawBody = Buffer.from(buf);
				},
			}),
		);
		app.post('/webhook-waiting/:executionId', (req, res) => {
			this.resume(String(req.params.executionId), req, res).catch((error: Error) => {
				if (!res.headersSent) res.status(500).json({ message: error.message });
			});
		});
		await new Promise<void>((resolve) => {
			this.server = app.listen(0, '127.0.0.1', () => resolve());
		});
		const address = this.server!.address() as { port: number };
		this.baseUrl = `http://127.0.0.1:${address.port}`;
		return this.baseUrl;
	}

	async close(): Promise<void> {
		await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
		// n8n-core read its settings from the folder when it started; nothing reads it again. Tests
		// must close every host they make, or the folder stays behind in the temp directory.
		if (ownUserFolder) rmSync(ownUserFolder, { recursive: true, force: true });
	}

	additionalData(executionId: string, uiMessages: unknown[]): IWorkflowExecuteAdditionalData {
		const unsupported = (what: string) => async () => {
			throw new Error(`${what} is not available in the test host`);
		};
		return {
			credentialsHelper: this.credentials,
			executionId,
			restApiUrl: `${this.baseUrl}/rest`,
			instanceBaseUrl: this.baseUrl,
			webhookBaseUrl: `${this.baseUrl}/webhook`,
			webhookWaitingBaseUrl: `${this.baseUrl}/webhook-waiting`,
			webhookTestBaseUrl: `${this.baseUrl}/webhook-test`,
			formBaseUrl: `${this.baseUrl}/form`,
			formWaitingBaseUrl: `${this.baseUrl}/form-waiting`,
			formTestBaseUrl: `${this.baseUrl}/form-test`,
			mcpBaseUrl: `${this.baseUrl}/mcp`,
			mcpTestBaseUrl: `${this.baseUrl}/mcp-test`,
			currentNodeExecutionIndex: 0,
			variables: {},
			sendDataToUI: (_type: string, data: unknown) => uiMessages.push(data),
			logAiEvent: () => undefined,
			executeWorkflow: unsupported('executeWorkflow'),
			getRunExecutionData: async (id: string) => this.executions.get(id)?.data,
			getRuntimeCredential: async () => undefined,
			startRunnerTask: unsupported('startRunnerTask'),
		} as unknown as IWorkflowExecuteAdditionalData;
	}

	/** Runs a workflow of one node (the node under test) on the given items, as n8n runs it. */
	async runNode(options: RunNodeOptions): Promise<Execution> {
		const node = packageNode(options.name ?? 'A2A Agent', AGENT_NODE_TYPE, options.parameters, options.credential, options.onError ? { onError: options.onError } : {});
		const workflow = new Workflow({
			id: 'wf-a2a-test',
			name: 'A2A test',
			nodes: [node],
			connections: {},
			active: false,
			nodeTypes: this.nodeTypes,
			settings: { executionOrder: 'v1' },
		});
		const items = (options.items ?? [{}]).map((json) => ({ json }));
		const data = createRunExecutionData({
			executionData: {
				nodeExecutionStack: [{ node: workflow.getNode(node.name)!, data: { main: [items] }, source: null }],
			},
		});
		// The server makes one token per execution; the resume URL carries it.
		data.resumeToken = randomBytes(16).toString('hex');
		const executionId = String(this.executions.size + 1);
		const stored: Stored = {
			execution: { id: executionId, status: 'running', run: undefined as unknown as IRun, uiMessages: [] },
			workflow,
			node,
			mode: options.mode ?? 'manual',
			data,
		};
		this.executions.set(executionId, stored);
		await this.process(stored, options.cancelAfterMs);
		return stored.execution;
	}

	/** Runs (or continues) a stored execution with n8n-core and records the outcome. */
	private async process(stored: Stored, cancelAfterMs?: number): Promise<void> {
		const { execution, workflow, mode } = stored;
		const hooks = new ExecutionLifecycleHooks(mode, execution.id, {
			id: workflow.id,
			name: workflow.name ?? '',
			nodes: Object.values(workflow.nodes),
			connections: workflow.connectionsBySourceNode,
			active: false,
			activeVersionId: null,
			isArchived: false,
			createdAt: new Date(),
			updatedAt: new Date(),
			settings: {},
		} as never);
		const finished = new Promise<IRun>((resolve) => hooks.addHandler('workflowExecuteAfter', (run) => resolve(run)));
		const additionalData = this.additionalData(execution.id, execution.uiMessages);
		additionalData.hooks = hooks;
		execution.status = 'running';
		const running = new WorkflowExecute(additionalData, mode, stored.data).processRunExecutionData(workflow);
		// A cancelled run reports through the workflowExecuteAfter hook, which is what is awaited.
		running.catch(() => undefined);
		const timer = cancelAfterMs === undefined ? undefined : setTimeout(() => running.cancel(), cancelAfterMs);
		const run = await finished;
		clearTimeout(timer);
		execution.run = run;
		const runs = run.data.resultData.runData[stored.node.name] ?? [];
		const last = runs[runs.length - 1];
		execution.error = (run.data.resultData.error ?? last?.error) as Execution['error'];
		execution.output = last?.data?.main?.[0] ?? undefined;
		execution.errorOutput = last?.data?.main?.[1] ?? undefined;
		execution.status = run.waitTill ? 'waiting' : execution.error ? 'error' : 'success';
		if (execution.status === 'waiting') {
			// As the server does, the waiting execution is kept as data, not as live objects.
			stored.data = JSON.parse(JSON.stringify(run.data)) as IRunExecutionData;
			stored.data.waitTill = run.waitTill ?? undefined;
			execution.resumed = new Promise((resolve) => (stored.resolveResumed = resolve));
		}
	}

	/**
	 * The waiting-webhook endpoint (`<webhookWaitingBaseUrl>/<executionId>?signature=<token>`):
	 * checks the token, refuses an execution that is running or finished (409), runs the waiting
	 * node's webhook() in n8n-core's WebhookContext and, when it returns data, continues the
	 * execution with that data as the node's output (the node is disabled for the rest of the run).
	 */
	private async resume(executionId: string, req: express.Request, res: express.Response): Promise<void> {
		const record = (status: number, body: unknown) => this.waitingWebhookCalls.push({ executionId, status, body });
		const stored = this.executions.get(executionId);
		if (!stored) {
			record(404, null);
			res.status(404).json({ message: `The execution "${executionId}" does not exist.` });
			return;
		}
		const token = typeof req.query.signature === 'string' ? req.query.signature : '';
		const expected = stored.data.resumeToken ?? '';
		if (!token || token.length !== expected.length || !timingSafeEqual(Buffer.from(token), Buffer.from(expected))) {
			record(401, null);
			res.status(401).json({ error: 'Invalid token' });
			return;
		}
		if (stored.execution.status !== 'waiting') {
			record(409, null);
			res.status(409).json({ message: `The execution "${executionId}" is ${stored.execution.status}.` });
			return;
		}

		// Worked on as a copy: a delivery that does not resume leaves the stored execution as it was.
		const data = JSON.parse(JSON.stringify(stored.data)) as IRunExecutionData;
		data.waitTill = stored.data.waitTill;
		const nodeName = data.resultData.lastNodeExecuted!;
		const workflow = new Workflow({
			id: stored.workflow.id,
			name: stored.workflow.name,
			nodes: Object.values(stored.workflow.nodes).map((n) => ({ ...n, parameters: { ...n.parameters } })),
			connections: stored.workflow.connectionsBySourceNode,
			active: false,
			nodeTypes: this.nodeTypes,
			settings: { executionOrder: 'v1' },
		});
		const node = workflow.getNode(nodeName)!;
		const nodeType = this.nodeTypes.getByName(node.type);
		const additionalData = this.additionalData(executionId, stored.execution.uiMessages);
		additionalData.httpRequest = req;
		additionalData.httpResponse = res;
		const webhookData: IWebhookData = {
			httpMethod: 'POST',
			node: nodeName,
			path: '',
			webhookDescription: nodeType.description.webhooks![0],
			workflowId: workflow.id,
			workflowExecuteAdditionalData: additionalData,
		};
		// As the server does before it calls the node: the waiting run's entry goes, so the node is
		// not shown twice.
		data.resultData.runData[nodeName]?.pop();
		const context = new WebhookContext(workflow, node, additionalData, stored.mode, webhookData, [], data);
		const result = await nodeType.webhook!.call(context);
		if (result.workflowData === undefined) {
			if (!result.noWebhookResponse) res.status(200).json(result.webhookResponse ?? { message: 'Webhook call received' });
			record(res.statusCode, result.webhookResponse ?? null);
			return;
		}
		record(200, 'resumed');
		res.status(200).json({ message: 'Workflow was started' });
		const entry = data.executionData!.nodeExecutionStack[0];
		entry.node.disabled = true;
		entry.data = { main: result.workflowData };
		data.waitTill = undefined;
		stored.data = data;
		stored.workflow = workflow;
		await this.process(stored);
		stored.resolveResumed?.(stored.execution);
	}

	/** A loadOptions / resourceMapping call as the editor makes it for the node's current parameters. */
	loadOptionsContext(parameters: INodeParameters, credential: INodeCredentialsDetails): LoadOptionsContext {
		const node = packageNode('A2A Agent', AGENT_NODE_TYPE, parameters, credential);
		const workflow = new Workflow({ nodes: [node], connections: {}, active: false, nodeTypes: this.nodeTypes });
		const additionalData = this.additionalData('0', []);
		additionalData.currentNodeParameters = parameters;
		return new LoadOptionsContext(workflow, node, additionalData, 'parameters.agentId');
	}
}
