import type {
	IDataObject,
	IExecuteFunctions,
	ILoadOptionsFunctions,
	INodeExecutionData,
	INodePropertyOptions,
	INodeType,
	INodeTypeDescription,
	IPairedItemData,
	IWebhookFunctions,
	IWebhookResponseData,
	JsonObject,
	ResourceMapperFields,
} from 'n8n-workflow';
import { NodeApiError, NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { verifyDealScaleSignature, SIGNATURE_HEADER } from '../shared/signature';
import { agentOptions, capabilityOptions, currentParameter } from '../shared/registry';
import { CREDENTIAL_TYPE, gatewayRequest } from '../shared/transport';
import { DEFAULT_POLL_INTERVAL_SECONDS, DEFAULT_TIMEOUT_SECONDS, properties } from './description';
import { InputValueError, inputsFromFields, mergeBatchInputs, schemaToFields } from './schema';
import {
	CardCache,
	cancelTask,
	createTask,
	getAgentCard,
	getTask,
	isTerminal,
	listTasks,
	pause,
	type TaskView,
	resultRows,
} from './tasks';

type RunMode = 'wait' | 'releaseAndResume' | 'fireAndForget';

interface RunOptions {
	priority?: number;
	idempotencyKey?: string;
	timeout?: number;
	pollInterval?: number;
	resultRows?: boolean;
}

type NodeFailure = NodeApiError | NodeOperationError;

/** One task of a run: for one input item, or for all of them in batch mode. */
interface Job {
	items: number[];
	agentId: string;
	capability: string;
	options: RunOptions;
	inputs?: IDataObject;
	task?: TaskView;
	error?: NodeFailure;
	/** What the error item says for a task that did not complete (continueOnFail). */
	errorJson?: IDataObject;
	createdAt?: number;
}

/** The error as n8n shows it: gateway and node errors as they are, anything else wrapped. */
function asNodeFailure(this: IExecuteFunctions, error: unknown, itemIndex?: number): NodeFailure {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	return new NodeOperationError(this.getNode(), error as Error, { itemIndex });
}

const pairedItemOf = (items: number[]): IPairedItemData | IPairedItemData[] =>
	items.length === 1 ? { item: items[0] } : items.map((item) => ({ item }));

const timeoutMs = (options: RunOptions) => 1000 * (Number(options.timeout) > 0 ? Number(options.timeout) : DEFAULT_TIMEOUT_SECONDS);
const pollMs = (options: RunOptions) =>
	1000 * (Number(options.pollInterval) > 0 ? Number(options.pollInterval) : DEFAULT_POLL_INTERVAL_SECONDS);

/** The JSON of an error item (continueOnFail): `error` always has `message`, and `code` when the gateway gave one. */
function errorJson(error: NodeFailure): IDataObject {
	const context = error.context ?? {};
	const gatewayBody = context.data as IDataObject | undefined;
	const taskError = context.taskError as IDataObject | undefined;
	const out: IDataObject = { message: error.message };
	const code = taskError?.code ?? gatewayBody?.code;
	if (code !== undefined) out.code = code as string;
	if (error.description) out.description = error.description;
	if (error instanceof NodeApiError && error.httpCode) out.httpCode = Number(error.httpCode) || error.httpCode;
	if (gatewayBody?.details !== undefined) out.details = gatewayBody.details as IDataObject;
	if (context.retryAfterSeconds !== undefined) out.retryAfterSeconds = context.retryAfterSeconds as number;
	return { error: out };
}

/** The NodeApiError of a task that ended failed, cancelled or timeout, carrying the task's error. */
function taskFailure(this: IExecuteFunctions, task: TaskView, itemIndex: number): NodeApiError {
	const code = task.error?.code ?? task.status;
	const reason = task.error?.message ?? `the task ended ${task.status}`;
	const apiError = new NodeApiError(
		this.getNode(),
		{ message: reason, taskId: task.taskId } as JsonObject,
		{
			message: `A2A task ${task.status}: ${reason} (${code})`,
			description: `Task ${task.taskId} of ${task.agentId} (${task.type}) ended ${task.status} with error code "${code}".`,
			itemIndex,
		},
	);
	apiError.context.taskError = { code, message: reason };
	apiError.context.task = { taskId: task.taskId, agentId: task.agentId, type: task.type, status: task.status };
	return apiError;
}

function parseInputsJson(this: IExecuteFunctions, itemIndex: number): IDataObject {
	const raw = this.getNodeParameter('inputsJson', itemIndex, '{}') as unknown;
	let value: unknown = raw;
	if (typeof raw === 'string') {
		const text = raw.trim() === '' ? '{}' : raw;
		try {
			value = JSON.parse(text);
		} catch (error) {
			throw new NodeOperationError(this.getNode(), `Inputs (JSON) is not valid JSON: ${(error as Error).message}`, {
				itemIndex,
			});
		}
	}
	if (!value || typeof value !== 'object' || Array.isArray(value)) {
		throw new NodeOperationError(this.getNode(), 'Inputs (JSON) must be a JSON object', { itemIndex });
	}
	return value as IDataObject;
}

/** The agent, capability, inputs and options of one item. */
async function jobFor(this: IExecuteFunctions, itemIndex: number, cards: CardCache): Promise<Job> {
	const agentId = String(this.getNodeParameter('agentId', itemIndex) ?? '');
	const capability = String(this.getNodeParameter('capability', itemIndex) ?? '');
	const options = this.getNodeParameter('options', itemIndex, {}) as RunOptions;
	if (!agentId) throw new NodeOperationError(this.getNode(), 'Choose an agent', { itemIndex });
	if (!capability) throw new NodeOperationError(this.getNode(), 'Choose a capability', { itemIndex });
	const inputMode = this.getNodeParameter('inputMode', itemIndex, 'fields') as string;
	let inputs: IDataObject;
	if (inputMode === 'json') {
		inputs = parseInputsJson.call(this, itemIndex);
	} else {
		const mapper = this.getNodeParameter('inputs', itemIndex, {}) as { value?: IDataObject | null };
		const card = await cards.capability(agentId, capability, itemIndex);
		if (!card) {
			throw new NodeOperationError(this.getNode(), `Agent "${agentId}" has no capability "${capability}"`, {
				itemIndex,
			});
		}
		try {
			inputs = inputsFromFields(mapper.value, card.inputSchema);
		} catch (error) {
			if (error instanceof InputValueError) {
				throw new NodeOperationError(this.getNode(), `Input ${error.path}: ${error.message}`, { itemIndex });
			}
			throw new NodeOperationError(this.getNode(), error as Error, { itemIndex });
		}
	}
	return { items: [itemIndex], agentId, capability, options, inputs };
}

function requestBody(job: Job, callbackUrl: string | undefined): IDataObject {
	const body: IDataObject = { type: job.capability, inputs: job.inputs ?? {} };
	if (job.options.priority !== undefined && job.options.priority !== null) body.priority = Number(job.options.priority);
	if (job.options.idempotencyKey) body.idempotencyKey = job.options.idempotencyKey;
	if (callbackUrl) body.callbackUrl = callbackUrl;
	return body;
}

/**
 * Cancels tasks of this run that are still going, because the run is failing or was stopped
 * (`afterStop`: the requests must outlive the stopped execution).
 */
async function cancelUnfinished(this: IExecuteFunctions, jobs: Job[], reason: string, afterStop = false): Promise<void> {
	await Promise.all(
		jobs
			.filter((job) => job.task && !isTerminal(job.task) && !job.error)
			.map(async (job) => {
				try {
					job.task = await cancelTask.call(this, job.agentId, job.task!.taskId, reason, job.items[0], afterStop);
				} catch (error) {
					// The run fails anyway with its own error; a task that cannot be cancelled is only logged.
					this.logger.warn(`Could not cancel A2A task ${job.task!.taskId}: ${(error as Error).message}`);
				}
			}),
	);
}

function describeProgress(task: TaskView): string {
	const progress = typeof task.progress === 'number' ? ` ${Math.round(task.progress)}%` : '';
	const message = task.progressMessage ? ` - ${task.progressMessage}` : '';
	return `A2A task ${task.taskId} (${task.agentId} ${task.type}): ${task.status}${progress}${message}`;
}

/** Errors of a status check that are worth another try at the next poll. */
function isTransient(error: NodeFailure): boolean {
	if (!(error instanceof NodeApiError)) return false;
	const status = Number(error.httpCode);
	return !error.httpCode || status === 429 || status === 502 || status === 503 || status === 504;
}

/**
 * Follows the jobs' tasks until each is finished, failed, or past its timeout (then cancelled).
 * Without continueOnFail the first failure stops the wait: the other tasks are cancelled and the
 * failure is thrown. Progress goes to the execution log and, in manual runs, the browser console.
 */
async function follow(this: IExecuteFunctions, jobs: Job[], failFast: boolean): Promise<void> {
	const active = () => jobs.filter((job) => job.task && !job.error && !isTerminal(job.task));
	const first = Math.min(...active().map((job) => pollMs(job.options)));
	const maxDelay = Math.max(first, Math.min(first * 10, 15_000));
	const reported = new Map<string, string>();
	const report = (task: TaskView) => {
		const line = describeProgress(task);
		if (reported.get(task.taskId) === line) return;
		reported.set(task.taskId, line);
		this.logger.info(line, { taskId: task.taskId, agentId: task.agentId, status: task.status });
		this.sendMessageToUI(line);
	};
	for (const job of active()) report(job.task!);

	let delay = first;
	while (active().length > 0) {
		if (!(await pause.call(this, delay))) {
			// Stopping the execution stops what it paid for: a task nobody waits for any more would
			// still run and be charged.
			const stopped = active().map((job) => job.task!.taskId);
			await cancelUnfinished.call(this, jobs, 'n8n execution stopped', true);
			throw new NodeOperationError(this.getNode(), 'The execution was stopped while waiting for its A2A tasks', {
				description: `Tasks cancelled: ${stopped.join(', ')}`,
			});
		}
		let retryAfter = 0;
		await Promise.all(
			active().map(async (job) => {
				try {
					job.task = await getTask.call(this, job.agentId, job.task!.taskId, job.items[0]);
					report(job.task);
				} catch (error) {
					const failure = asNodeFailure.call(this, error, job.items[0]);
					if (isTransient(failure)) {
						retryAfter = Math.max(retryAfter, Number(failure.context?.retryAfterSeconds ?? 0) * 1000);
						this.logger.warn(`Status check of A2A task ${job.task!.taskId} failed, retrying: ${failure.message}`);
					} else {
						job.error = failure;
					}
				}
			}),
		);
		const now = Date.now();
		for (const job of active()) {
			if (now - (job.createdAt ?? now) < timeoutMs(job.options)) continue;
			const seconds = timeoutMs(job.options) / 1000;
			const message = `A2A task ${job.task!.taskId} (${job.agentId} ${job.capability}) did not finish within ${seconds} s; it was cancelled`;
			try {
				job.task = await cancelTask.call(this, job.agentId, job.task!.taskId, `n8n timeout after ${seconds} s`, job.items[0]);
			} catch (error) {
				// 409: it finished meanwhile; its final state decides.
				if (error instanceof NodeApiError && Number(error.httpCode) === 409) {
					job.task = await getTask.call(this, job.agentId, job.task!.taskId, job.items[0]);
					continue;
				}
				this.logger.warn(`Could not cancel A2A task ${job.task!.taskId} after its timeout: ${(error as Error).message}`);
			}
			job.error = new NodeOperationError(this.getNode(), message, {
				itemIndex: job.items[0],
				description: `Raise "Timeout" in the options, or use the "Release and Resume" mode for long tasks.`,
			});
			job.errorJson = { ...(job.task ?? {}), error: { code: 'n8n_timeout', message } };
		}
		if (failFast) {
			const failed = jobs.find((job) => job.error || (job.task && isTerminal(job.task) && job.task.status !== 'completed'));
			if (failed) {
				await cancelUnfinished.call(this, jobs, 'another task of the same n8n node failed');
				throw failed.error ?? taskFailure.call(this, failed.task!, failed.items[0]);
			}
		}
		delay = Math.max(Math.min(delay * 1.5, maxDelay), retryAfter);
	}
}

/**
 * The output item of a finished job: the task (whatever its status; without continueOnFail a
 * failed one has already failed the node), or the error item of a request that failed.
 * With "continue (using error output)" n8n sends an item to the error output only when its JSON
 * holds nothing but `error`, `message` and `details` (an item's own `error` would replace the JSON
 * with the message), so there a task that did not complete goes out as `{error, details: {task}}`.
 */
function outputOf(this: IExecuteFunctions, job: Job): INodeExecutionData {
	const pairedItem = pairedItemOf(job.items);
	const task = job.task;
	const unfinished = job.error || (task && isTerminal(task) && task.status !== 'completed');
	if (unfinished && task && this.getNode().onError === 'continueErrorOutput') {
		const error = (job.errorJson?.error as IDataObject | undefined) ?? { code: task.error?.code ?? task.status, message: task.error?.message ?? `the task ended ${task.status}` };
		return { json: { error: { ...error, taskId: task.taskId, status: task.status }, details: { task } }, pairedItem };
	}
	if (job.error) return { json: job.errorJson ?? errorJson(job.error), pairedItem };
	return { json: task!, pairedItem };
}

async function runOperation(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const mode = this.getNodeParameter('mode', 0, 'wait') as RunMode;
	const batch = this.getNodeParameter('batch', 0, false) as boolean;
	const continueOnFail = this.continueOnFail();
	const cards = new CardCache(this);

	const jobs: Job[] = [];
	if (batch) {
		const all = items.map((_, i) => i);
		try {
			const perItem: Job[] = [];
			for (const i of all) perItem.push(await jobFor.call(this, i, cards));
			jobs.push({ ...perItem[0], items: all, inputs: mergeBatchInputs(perItem.map((job) => job.inputs ?? {})) });
		} catch (error) {
			if (!continueOnFail) throw asNodeFailure.call(this, error);
			jobs.push({ items: all, agentId: '', capability: '', options: {}, error: asNodeFailure.call(this, error) });
		}
	} else {
		for (let i = 0; i < items.length; i++) {
			try {
				jobs.push(await jobFor.call(this, i, cards));
			} catch (error) {
				if (!continueOnFail) throw asNodeFailure.call(this, error, i);
				jobs.push({ items: [i], agentId: '', capability: '', options: {}, error: asNodeFailure.call(this, error, i) });
			}
		}
	}

	let callbackUrl: string | undefined;
	if (mode === 'releaseAndResume') {
		callbackUrl = String(this.evaluateExpression('{{ $execution.resumeUrl }}', 0));
		this.setMetadata({ resumeUrl: callbackUrl });
	}

	for (const job of jobs) {
		if (job.error) continue;
		try {
			job.task = await createTask.call(this, job.agentId, requestBody(job, callbackUrl), job.items[0]);
			job.createdAt = Date.now();
			this.logger.info(`A2A task ${job.task.taskId} created: ${job.agentId} ${job.capability}`, { taskId: job.task.taskId });
		} catch (error) {
			if (!continueOnFail) {
				await cancelUnfinished.call(this, jobs, 'another task of the same n8n node could not be created');
				throw asNodeFailure.call(this, error, job.items[0]);
			}
			job.error = asNodeFailure.call(this, error, job.items[0]);
		}
	}

	if (mode === 'fireAndForget') {
		return [jobs.map((job) => outputOf.call(this, job))];
	}

	if (mode === 'releaseAndResume') {
		const started = jobs.filter((job) => job.task);
		const output = jobs.map((job) => ({
			json: job.error ? errorJson(job.error) : job.task!,
			pairedItem: pairedItemOf(job.items),
		}));
		// Nothing to wait for when no task could be created (continueOnFail).
		if (started.length === 0) return [output];
		const entries: StartedEntry[] = jobs.map((job) =>
			job.task
				? { items: job.items, taskId: job.task.taskId, agentId: job.task.agentId }
				: { items: job.items, failed: errorJson(job.error!) },
		);
		this.getContext('node')[STARTED_KEY] = entries;
		const waitMs = Math.max(...started.map((job) => timeoutMs(job.options)));
		await this.putExecutionToWait(new Date(Date.now() + waitMs));
		// Shown while the execution waits; on resume the node outputs what webhook() returns.
		return [output];
	}

	await follow.call(this, jobs, !continueOnFail);
	const out: INodeExecutionData[] = [];
	for (const job of jobs) {
		const task = job.task;
		if (job.options.resultRows && !job.error && task?.status === 'completed' && (task.outputs as IDataObject | undefined)?.resultSet) {
			// Every row of the task's result set, read page by page, one item each.
			const pairedItem = pairedItemOf(job.items);
			for (const row of await resultRows.call(this, task.agentId, task.taskId, job.items[0])) out.push({ json: row, pairedItem });
			continue;
		}
		out.push(outputOf.call(this, job));
	}
	return [out];
}

/** get, list and cancel: one request (list: pages) per input item. */
async function taskOperation(this: IExecuteFunctions, operation: string): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const out: INodeExecutionData[] = [];
	for (let i = 0; i < items.length; i++) {
		try {
			const agentId = String(this.getNodeParameter('agentId', i));
			if (operation === 'list') {
				const returnAll = this.getNodeParameter('returnAll', i, false) as boolean;
				const limit = returnAll ? undefined : Number(this.getNodeParameter('limit', i, 50));
				const filter = {
					status: String(this.getNodeParameter('status', i, '') ?? ''),
					type: String(this.getNodeParameter('type', i, '') ?? ''),
				};
				const tasks = await listTasks.call(this, agentId, filter, limit, i);
				for (const task of tasks) out.push({ json: task, pairedItem: { item: i } });
				continue;
			}
			const taskId = String(this.getNodeParameter('taskId', i));
			if (!taskId) throw new NodeOperationError(this.getNode(), 'Task ID is empty', { itemIndex: i });
			const task =
				operation === 'cancel'
					? await cancelTask.call(this, agentId, taskId, String(this.getNodeParameter('reason', i, '') ?? '') || undefined, i)
					: await getTask.call(this, agentId, taskId, i);
			out.push({ json: task, pairedItem: { item: i } });
		} catch (error) {
			if (!this.continueOnFail()) throw asNodeFailure.call(this, error, i);
			out.push({ json: errorJson(asNodeFailure.call(this, error, i)), pairedItem: { item: i } });
		}
	}
	return [out];
}

/**
 * What a release-and-resume run started, kept in the node's execution context (saved with the
 * waiting execution) so webhook() knows which tasks to wait for and which items they pair with.
 */
interface StartedEntry extends IDataObject {
	items: number[];
	taskId?: string;
	agentId?: string;
	/** The error item's JSON of an item whose task could not be created (continueOnFail). */
	failed?: IDataObject;
}

const STARTED_KEY = 'a2aStartedTasks';

function startedEntries(this: IWebhookFunctions): StartedEntry[] {
	const node = JSON.stringify(this.getNode().name);
	try {
		// The waiting execution's data is reachable from a webhook only through an expression.
		const value = this.evaluateExpression(`{{ $(${node}).context[${JSON.stringify(STARTED_KEY)}] }}`);
		return Array.isArray(value) ? (value as unknown as StartedEntry[]) : [];
	} catch (error) {
		this.logger.warn(`A2A Agent could not read the tasks it started: ${(error as Error).message}`);
		return [];
	}
}

// The resume webhook is n8n's own per-execution URL ($execution.resumeUrl), handed to the gateway
// with each task; there is no subscription to create, check or delete, so the lifecycle does not apply.
// eslint-disable-next-line @n8n/community-nodes/webhook-lifecycle-complete
export class A2aAgent implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'A2A Agent',
		name: 'a2aAgent',
		icon: { light: 'file:dealscale.svg', dark: 'file:dealscale.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{ $parameter["operation"] === "run" ? $parameter["agentId"] + ": " + $parameter["capability"] : $parameter["operation"] + ": " + $parameter["agentId"] }}',
		description: 'Run DealScale agent capabilities over A2A: wait for the result, resume on delivery, or fire and forget',
		defaults: { name: 'A2A Agent' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: CREDENTIAL_TYPE, required: true }],
		waitingNodeTooltip:
			'={{ "Waiting for the gateway to deliver the finished A2A task to " + $execution.resumeUrl }}',
		webhooks: [
			{
				name: 'default',
				httpMethod: 'POST',
				responseMode: 'onReceived',
				path: '',
				restartWebhook: true,
				isFullPath: true,
			},
		],
		properties,
	};

	methods = {
		loadOptions: {
			async getAgents(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				return await agentOptions.call(this);
			},

			async getCapabilities(this: ILoadOptionsFunctions): Promise<INodePropertyOptions[]> {
				const agentId = currentParameter(this, 'agentId');
				return agentId ? await capabilityOptions.call(this, agentId) : [];
			},
		},

		resourceMapping: {
			async getInputFields(this: ILoadOptionsFunctions): Promise<ResourceMapperFields> {
				const agentId = currentParameter(this, 'agentId');
				const capability = currentParameter(this, 'capability');
				if (!agentId || !capability) {
					return { fields: [], emptyFieldsNotice: 'Choose an agent and a capability first' };
				}
				const card = await getAgentCard.call(this, agentId);
				const found = card.capabilities?.find((c) => c.id === capability);
				if (!found) {
					throw new NodeOperationError(this.getNode(), `Agent "${agentId}" has no capability "${capability}"`);
				}
				const fields = schemaToFields(found.inputSchema);
				return fields.length ? { fields } : { fields, emptyFieldsNotice: 'This capability takes no inputs' };
			},
		},
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		const operation = this.getNodeParameter('operation', 0, 'run') as string;
		if (operation === 'run') return await runOperation.call(this);
		return await taskOperation.call(this, operation);
	}

	/**
	 * Release and resume: the gateway POSTs {event, deliveredAt, task} to the execution's resume
	 * URL when a task finishes. The delivery must carry a valid X-DealScale-Signature made with the
	 * tenant's callback secret (401 otherwise). The execution resumes when every task the node
	 * started has finished, with one item per task, whatever its status.
	 */
	async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
		const req = this.getRequestObject() as ReturnType<IWebhookFunctions['getRequestObject']> & { rawBody?: Buffer };
		const res = this.getResponseObject();
		const answer = (status: number, body: IDataObject): IWebhookResponseData => {
			res.status(status).json(body);
			return { noWebhookResponse: true };
		};

		let secret: string;
		try {
			({ secret } = (await gatewayRequest.call(this, 'GET', '/webhooks/signing-secret')) as { secret: string });
		} catch (error) {
			// Not resuming: the gateway retries the delivery later.
			this.logger.warn(`A2A Agent could not fetch the callback signing secret: ${(error as Error).message}`);
			return answer(503, { error: 'cannot verify the delivery now; retry later' });
		}
		const signature = req.headers[SIGNATURE_HEADER];
		if (!req.rawBody || !verifyDealScaleSignature(secret, req.rawBody, Array.isArray(signature) ? signature[0] : signature)) {
			return answer(401, { error: 'invalid or missing X-DealScale-Signature' });
		}

		const delivered = (this.getBodyData() as { task?: TaskView }).task;
		if (!delivered?.taskId || !isTerminal(delivered)) {
			return answer(400, { error: 'the delivery carries no finished task' });
		}

		const started = startedEntries.call(this);
		const entries: StartedEntry[] = started.length
			? started
			: [{ items: [0], taskId: delivered.taskId, agentId: delivered.agentId }];
		if (!entries.some((entry) => entry.taskId === delivered.taskId)) {
			return answer(200, { received: true, resumed: false, reason: 'not a task of this execution' });
		}

		let unreadable = 0;
		const states = await Promise.all(
			entries.map(async (entry): Promise<IDataObject> => {
				if (!entry.taskId) return entry.failed ?? {};
				if (entry.taskId === delivered.taskId) return delivered;
				try {
					return await getTask.call(this, String(entry.agentId), entry.taskId);
				} catch (error) {
					unreadable++;
					this.logger.warn(`A2A Agent could not read task ${entry.taskId}: ${(error as Error).message}`);
					return { taskId: entry.taskId, status: 'unknown' };
				}
			}),
		);
		// Not acknowledged, so the gateway delivers again and the check is repeated.
		if (unreadable > 0) return answer(503, { error: 'cannot read the other tasks of this execution now; retry later' });
		const waitingFor = states.filter((state) => state.taskId && !isTerminal(state)).length;
		if (waitingFor > 0) return answer(200, { received: true, resumed: false, waitingFor });

		return {
			workflowData: [states.map((state, index) => ({ json: state, pairedItem: pairedItemOf(entries[index].items) }))],
		};
	}
}

