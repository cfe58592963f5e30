/**
 * The A2A Agent node run as n8n runs it (n8n-core's WorkflowExecute, node contexts and HTTP client,
 * with the small host of support/n8n-host.ts) against a real gateway and workers on throw-away
 * Postgres and Redis (agent-services' test harness, test-agent and limited-agent plugins). The
 * gateway delivers release-and-resume callbacks to the host's waiting-webhook endpoint on 127.0.0.1.
 */
import { createHmac } from 'node:crypto';
import path from 'node:path';
import type { IDataObject, INodeParameters, ResourceMapperField } from 'n8n-workflow';
import type { NodeApiError } from 'n8n-workflow';

import { startTestStack, sleep, TEST_AGENT_PLUGIN, type TestStack } from '../../agent-services/test/support/harness';
import { withTenant } from '../../agent-services/src/store/tenant-tx';
import { A2aAgent } from '../nodes/A2aAgent/A2aAgent.node';
import { mintGatewayToken } from '../credentials/DealScaleA2AApi.credentials';
import { CREDENTIAL_TYPE, N8nHost, type Execution } from './support/n8n-host';

const AGENT = 'test-agent';
const LIMITED_PLUGIN = path.resolve(__dirname, '../../agent-services/test/fixtures/limited-agent.js');

let stack: TestStack;
let host: N8nHost;
let hostUrl: string;

beforeAll(async () => {
	stack = await startTestStack({
		AGENT_PLUGINS: `${TEST_AGENT_PLUGIN},${LIMITED_PLUGIN}`,
		// The host's waiting-webhook endpoint is on 127.0.0.1; retries come quickly in tests.
		WEBHOOK_ALLOW_PRIVATE: 'true',
		WEBHOOK_BACKOFF_MS: '100',
	});
	host = new N8nHost();
	hostUrl = await host.listen();
});

afterAll(async () => {
	await host?.close();
	await stack?.close();
});

/** A tenant with its own token credential in the host. */
async function tenantCredential(credits = 1000) {
	const tenantId = await stack.tenant(credits);
	const token = stack.token(tenantId);
	const credential = host.credentials.add(CREDENTIAL_TYPE, { baseUrl: stack.url, authMode: 'token', token, accessToken: '' });
	return { tenantId, token, credential };
}

/** A tenant with a signing-secret credential (the node mints its tokens) and a token to check with. */
async function mintingCredential(credits = 1000) {
	const tenantId = await stack.tenant(credits);
	const minting = host.credentials.add(CREDENTIAL_TYPE, {
		baseUrl: stack.url,
		authMode: 'signingSecret',
		agentId: 'n8n-unit',
		tenantId,
		signingSecret: stack.config.jwtSecret,
		issuer: '',
		accessToken: '',
		mintedFor: '',
	});
	return { tenantId, token: stack.token(tenantId), minting };
}

const fields = (value: IDataObject) => ({ mappingMode: 'defineBelow', value });

function runParams(capability: string, value: IDataObject, extra: INodeParameters = {}): INodeParameters {
	return {
		operation: 'run',
		agentId: AGENT,
		capability,
		inputMode: 'fields',
		inputs: fields(value),
		options: { pollInterval: 0.1 },
		...extra,
	} as INodeParameters;
}

function expectSuccess(execution: Execution) {
	if (execution.status !== 'success') throw new Error(`execution ${execution.status}: ${execution.error?.message}`);
	return execution.output!;
}

async function taskInGateway(token: string, taskId: string, agentId = AGENT) {
	const res = await stack.request('GET', `/agents/${agentId}/tasks/${taskId}`, { token });
	expect(res.status).toBe(200);
	return res.body;
}

describe('editor: registry options and input fields', () => {
	test('getAgents lists the registry, getCapabilities the agent card', async () => {
		const { credential } = await tenantCredential();
		const node = new A2aAgent();
		const agents = await node.methods.loadOptions.getAgents.call(host.loadOptionsContext({}, credential));
		expect(agents).toEqual(
			expect.arrayContaining([
				expect.objectContaining({ value: AGENT, name: 'TestAgent (test-agent)' }),
				expect.objectContaining({ value: 'data-engineer', name: 'DealScale Data Engineer (data-engineer)' }),
				expect.objectContaining({ value: 'limited-agent' }),
			]),
		);
		const capabilities = await node.methods.loadOptions.getCapabilities.call(
			host.loadOptionsContext({ agentId: AGENT }, credential),
		);
		expect(capabilities.map((c) => c.value)).toEqual(
			['badOutput', 'echo', 'fail', 'flaky', 'holdTx', 'noop', 'rows', 'slow', 'tight', 'unimplemented'],
		);
		expect(capabilities.find((c) => c.value === 'echo')).toMatchObject({ name: 'echo', description: 'test capability echo' });
		// The card's human name with the id beside it; the id is the value.
		const enrich = await node.methods.loadOptions.getCapabilities.call(host.loadOptionsContext({ agentId: 'data-engineer' }, credential));
		expect(enrich.find((c) => c.value === 'enrichLeads')).toMatchObject({ name: 'Enrich Leads (enrichLeads)' });
		// No agent chosen yet: nothing to offer, and no request.
		expect(await node.methods.loadOptions.getCapabilities.call(host.loadOptionsContext({ agentId: '' }, credential))).toEqual([]);
	});

	test("getInputFields offers the capability's JSON Schema properties as typed fields, required ones marked", async () => {
		const { credential } = await tenantCredential();
		const node = new A2aAgent();
		const inputFields = (agentId: string, capability: string) =>
			node.methods.resourceMapping.getInputFields.call(host.loadOptionsContext({ agentId, capability }, credential));
		const byId = (list: ResourceMapperField[]) => Object.fromEntries(list.map((f) => [f.id, f]));

		const slow = byId((await inputFields(AGENT, 'slow')).fields);
		expect(slow.ms).toMatchObject({ type: 'number', required: true, display: true, defaultMatch: false });
		expect(slow.steps).toMatchObject({ type: 'number', required: false });
		expect(slow.marker).toMatchObject({ type: 'string', required: false });

		const echo = byId((await inputFields(AGENT, 'echo')).fields);
		expect(echo.leadIds).toMatchObject({ type: 'array', required: false });
		expect(byId((await inputFields(AGENT, 'fail')).fields).retryable).toMatchObject({ type: 'boolean' });

		// A real card: enums become options, objects JSON fields, defaults carried over.
		const enrich = byId((await inputFields('data-engineer', 'enrichLeads')).fields);
		expect(enrich.provider.type).toBe('options');
		expect(enrich.provider.options!.map((o) => o.value)).toEqual(['apollo', 'clearbit', 'zoominfo', 'internal']);
		expect(enrich.leadIds).toMatchObject({ type: 'array', required: true });
		const validate = byId((await inputFields('data-engineer', 'validateLeads')).fields);
		expect(validate.staleAfterDays).toMatchObject({ type: 'number', defaultValue: 180 });

		expect(await inputFields(AGENT, 'badOutput')).toEqual({ fields: [], emptyFieldsNotice: 'This capability takes no inputs' });
		await expect(inputFields(AGENT, 'nope')).rejects.toThrow('Agent "test-agent" has no capability "nope"');
	});
});

describe('run: wait for completion', () => {
	test('resource-mapper values are converted by the JSON Schema; the output is the task with its outputs', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			parameters: runParams('echo', { leadIds: ' a, b ,c', message: 'hello', unset: null }),
		});
		const [item] = expectSuccess(execution);
		expect(item.pairedItem).toEqual({ item: 0 });
		expect(item.json).toMatchObject({
			agentId: AGENT,
			type: 'echo',
			status: 'completed',
			inputs: { leadIds: ['a', 'b', 'c'], message: 'hello' },
			outputs: { echoed: { leadIds: ['a', 'b', 'c'], message: 'hello' } },
			error: null,
			creditsUsed: 1,
		});
		// Exactly what the gateway returns for the task.
		expect(item.json).toEqual(await taskInGateway(token, String(item.json.taskId)));

		const typed = await host.runNode({
			credential,
			parameters: runParams('slow', { ms: '40', steps: '2', marker: 17 }),
		});
		expect(expectSuccess(typed)[0].json).toMatchObject({ inputs: { ms: 40, steps: 2, marker: '17' }, outputs: { sleptMs: 40 } });

		const json = await host.runNode({ credential, parameters: runParams('echo', { leadIds: '["x","y"]' }) });
		expect(expectSuccess(json)[0].json.inputs).toEqual({ leadIds: ['x', 'y'] });
	});

	test('Output Result Rows as Items: every row of a paged result, all pages fetched; off, the task with its first page', async () => {
		const { credential } = await tenantCredential();
		const paged = await host.runNode({
			credential,
			parameters: runParams('rows', { count: '12500' }, { options: { pollInterval: 0.1, resultRows: true } }),
		});
		const rows = expectSuccess(paged);
		expect(rows).toHaveLength(12500);
		expect(rows.map((r) => r.json.n)).toEqual(Array.from({ length: 12500 }, (_, n) => n));
		expect(rows[12499].pairedItem).toEqual({ item: 0 });

		const plain = await host.runNode({ credential, parameters: runParams('rows', { count: '12500' }) });
		const [task] = expectSuccess(plain);
		expect(task.json).toMatchObject({ status: 'completed', outputs: { resultSet: { items: 'rows', total: 12500, nextCursor: expect.any(String) } } });
		expect((task.json.outputs as IDataObject).rows).toHaveLength(1000);

		// A task without a result set is output as the task, option or not.
		const small = await host.runNode({ credential, parameters: runParams('rows', { count: '3' }, { options: { pollInterval: 0.1, resultRows: true } }) });
		expect(expectSuccess(small)[0].json).toMatchObject({ status: 'completed', outputs: { rows: [{ n: 0 }, { n: 1 }, { n: 2 }] } });
	});

	test('a value the schema cannot take fails the item with the input path, before any task is created', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({ credential, parameters: runParams('slow', { ms: '1.5' }) });
		expect(execution.status).toBe('error');
		expect(execution.error!.name).toBe('NodeOperationError');
		expect(execution.error!.message).toBe('Input /inputs/ms: expects an integer, got "1.5"');
		const list = await stack.request('GET', `/agents/${AGENT}/tasks`, { token });
		expect(list.body.tasks).toEqual([]);
	});

	test('raw JSON inputs and expressions over the items', async () => {
		const { credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{ ids: ['p', 'q'], note: 'first', agent: AGENT }, { ids: ['r'], note: 'second', agent: AGENT }],
			parameters: {
				...runParams('echo', {}),
				agentId: '={{ $json.agent }}',
				inputMode: 'json',
				inputsJson: '={{ JSON.stringify({ leadIds: $json.ids, message: $json.note + "!" }) }}',
			},
		});
		const out = expectSuccess(execution);
		expect(out.map((i) => i.json.inputs)).toEqual([
			{ leadIds: ['p', 'q'], message: 'first!' },
			{ leadIds: ['r'], message: 'second!' },
		]);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);

		const mapped = await host.runNode({
			credential,
			items: [{ ids: 'm,n', n: 3 }],
			parameters: runParams('echo', { leadIds: '={{ $json.ids }}', message: '={{ "n=" + $json.n }}' }),
		});
		expect(expectSuccess(mapped)[0].json.inputs).toEqual({ leadIds: ['m', 'n'], message: 'n=3' });

		const invalid = await host.runNode({ credential, parameters: { ...runParams('echo', {}), inputMode: 'json', inputsJson: '{"leadIds": [' } });
		expect(invalid.status).toBe('error');
		expect(invalid.error!.message).toMatch(/^Inputs \(JSON\) is not valid JSON/);
	});

	test('progress goes to the execution log and the editor console; priority and idempotency key reach the gateway', async () => {
		const { credential } = await tenantCredential();
		const key = `idem-${Date.now()}`;
		// Working for 1.2 s, longer than the longest poll delay (ten times 0.05 s), so some checks see it working.
		const params = runParams('slow', { ms: 1200, steps: 4 }, { options: { pollInterval: 0.05, priority: 9, idempotencyKey: key } });
		const first = await host.runNode({ credential, parameters: params });
		const task = expectSuccess(first)[0].json;
		expect(task).toMatchObject({ status: 'completed', priority: 9, idempotencyKey: key, progress: 100 });
		const lines = host.logs.filter((l) => l.message.startsWith(`A2A task ${task.taskId}`)).map((l) => l.message);
		expect(lines.some((l) => /working \d+% - step \d of 4/.test(l))).toBe(true);
		expect(lines[lines.length - 1]).toBe(`A2A task ${task.taskId} (test-agent slow): completed 100% - step 4 of 4`);
		const ui = first.uiMessages.map((m) => (m as { messages: string[] }).messages.join(' '));
		expect(ui.some((m) => m.includes(`${task.taskId} (test-agent slow): completed 100%`))).toBe(true);

		// The same key returns the first task, not a new one.
		const again = await host.runNode({ credential, parameters: params });
		expect(expectSuccess(again)[0].json.taskId).toBe(task.taskId);
	});

	test("a failed task fails the node with a NodeApiError carrying the task's error", async () => {
		const { credential } = await tenantCredential();
		const execution = await host.runNode({ credential, parameters: runParams('fail', {}) });
		expect(execution.status).toBe('error');
		const error = execution.error as NodeApiError;
		expect(error.name).toBe('NodeApiError');
		expect(error.message).toBe('A2A task failed: the test capability failed on purpose (boom)');
		expect(error.context.taskError).toEqual({ code: 'boom', message: 'the test capability failed on purpose' });
		expect(error.context.task).toMatchObject({ agentId: AGENT, type: 'fail', status: 'failed' });
		expect(error.description).toContain('ended failed with error code "boom"');
	});

	test('without continueOnFail the first failure stops the wait and cancels the other tasks', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{ cap: 'slow' }, { cap: 'fail' }],
			parameters: {
				...runParams('slow', {}),
				capability: '={{ $json.cap }}',
				inputMode: 'json',
				inputsJson: '={{ $json.cap === "slow" ? "{\\"ms\\": 20000}" : "{}" }}',
			},
		});
		expect(execution.status).toBe('error');
		expect(execution.error!.message).toContain('(boom)');
		const slow = (await stack.request('GET', `/agents/${AGENT}/tasks?type=slow`, { token })).body.tasks;
		expect(slow).toHaveLength(1);
		expect((await stack.waitForStatus(token, AGENT, slow[0].taskId, ['cancelled'])).error).toMatchObject({
			message: 'another task of the same n8n node failed',
		});
	});

	/** Three items, one task each: `fail` fails, `noop` completes, `slow` without its inputs is refused (400). */
	async function runFailNoopAndRefused(onError: 'continueRegularOutput' | 'continueErrorOutput'): Promise<Execution> {
		const { credential } = await tenantCredential();
		return await host.runNode({
			credential,
			onError,
			items: [{ cap: 'fail' }, { cap: 'noop' }, { cap: 'slow' }],
			parameters: { ...runParams('noop', {}), capability: '={{ $json.cap }}', inputMode: 'json', inputsJson: '{}' },
		});
	}

	test('continueOnFail: failed tasks and refused requests become items paired with their input', async () => {
		const execution = await runFailNoopAndRefused('continueRegularOutput');
		const out = expectSuccess(execution);
		expect(out).toHaveLength(3);
		expect(out[0]).toMatchObject({
			pairedItem: { item: 0 },
			json: { type: 'fail', status: 'failed', error: { code: 'boom', message: 'the test capability failed on purpose' } },
		});
		expect(out[1]).toMatchObject({ pairedItem: { item: 1 }, json: { type: 'noop', status: 'completed', outputs: { ok: true } } });
		// slow without its required ms: the gateway's 400, with the JSON path.
		expect(out[2].pairedItem).toEqual({ item: 2 });
		expect(out[2].json.error).toMatchObject({
			code: 'invalid_input',
			httpCode: 400,
			message: "Invalid request: /inputs/ms: must have required property 'ms'",
		});
	});

	test('continue using error output: failed tasks and refused requests go to the error output, completed ones to the main output', async () => {
		const execution = await runFailNoopAndRefused('continueErrorOutput');
		expect(execution.status).toBe('success');
		expect(execution.output).toHaveLength(1);
		expect(execution.output![0]).toMatchObject({ pairedItem: { item: 1 }, json: { type: 'noop', status: 'completed' } });
		expect(execution.errorOutput).toHaveLength(2);
		expect(execution.errorOutput![0]).toMatchObject({
			pairedItem: { item: 0 },
			json: {
				error: { code: 'boom', message: 'the test capability failed on purpose', status: 'failed' },
				details: { task: { type: 'fail', status: 'failed', error: { code: 'boom' } } },
			},
		});
		expect(execution.errorOutput![0].json.error).toMatchObject({ taskId: (execution.errorOutput![0].json.details as IDataObject & { task: IDataObject }).task.taskId });
		expect(execution.errorOutput![1]).toMatchObject({ pairedItem: { item: 2 }, json: { error: { code: 'invalid_input', httpCode: 400 } } });
	});

	test('402: not enough credits, with the numbers', async () => {
		const { credential } = await tenantCredential(0.5);
		const execution = await host.runNode({ credential, parameters: runParams('noop', {}) });
		expect(execution.status).toBe('error');
		const error = execution.error as NodeApiError;
		expect(error.name).toBe('NodeApiError');
		expect(error.httpCode).toBe('402');
		expect(error.message).toBe('Not enough credits: the task needs 1 credits, the tenant has 0.5');
	});

	test('429: rate limited, with the seconds to wait from Retry-After', async () => {
		const { credential } = await tenantCredential();
		// JSON inputs: no card to fetch, so the four creations are the only requests in the bucket (burst 3).
		const params = { ...runParams('noop', {}), agentId: 'limited-agent', mode: 'fireAndForget', inputMode: 'json', inputsJson: '{}' };
		const execution = await host.runNode({ credential, onError: 'continueRegularOutput', items: [{}, {}, {}, {}], parameters: params });
		const out = expectSuccess(execution);
		expect(out.slice(0, 3).map((i) => i.json.status)).toEqual(['submitted', 'submitted', 'submitted']);
		expect(out[3].pairedItem).toEqual({ item: 3 });
		const error = out[3].json.error as IDataObject;
		expect(error).toMatchObject({ code: 'rate_limited', httpCode: 429 });
		expect(error.message).toMatch(/^Rate limited by the gateway: retry after \d+ s$/);
		expect(error.message).toBe(`Rate limited by the gateway: retry after ${error.retryAfterSeconds} s`);

		const failing = await host.runNode({ credential, parameters: params });
		expect(failing.status).toBe('error');
		expect(failing.error!.message).toMatch(/^Rate limited by the gateway: retry after \d+ s$/);
	});

	test('timeout: the task is cancelled and the node fails with a clear error', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			parameters: runParams('slow', { ms: 20000 }, { options: { pollInterval: 0.1, timeout: 1 } }),
		});
		expect(execution.status).toBe('error');
		expect(execution.error!.name).toBe('NodeOperationError');
		expect(execution.error!.message).toMatch(/^A2A task ([0-9a-f-]+) \(test-agent slow\) did not finish within 1 s; it was cancelled$/);
		const taskId = /^A2A task ([0-9a-f-]+)/.exec(execution.error!.message)![1];
		expect(await taskInGateway(token, taskId)).toMatchObject({ status: 'cancelled', error: { message: 'n8n timeout after 1 s' } });

		const tolerated = await host.runNode({
			credential,
			onError: 'continueRegularOutput',
			parameters: runParams('slow', { ms: 20000 }, { options: { pollInterval: 0.1, timeout: 1 } }),
		});
		expect(expectSuccess(tolerated)[0].json).toMatchObject({ status: 'cancelled', error: { code: 'n8n_timeout' } });
	});

	test.each([
		['a token credential', tenantCredential],
		['a signing-secret credential (a token of its own minting)', async () => {
			const { token, minting } = await mintingCredential();
			return { token, credential: minting };
		}],
	])('stopping the execution stops the wait and cancels the task, though n8n aborts the execution\'s requests: %s', async (_, makeCredential) => {
		const { token, credential } = await makeCredential();
		const execution = await host.runNode({
			credential,
			cancelAfterMs: 600,
			parameters: runParams('slow', { ms: 20000 }, { options: { pollInterval: 0.2 } }),
		});
		expect(execution.run.status).toBe('canceled');
		const [task] = (await stack.request('GET', `/agents/${AGENT}/tasks`, { token })).body.tasks;
		const cancelled = await stack.waitForStatus(token, AGENT, task.taskId, ['cancelled', 'completed'], 5000);
		expect(cancelled).toMatchObject({ status: 'cancelled', error: { message: 'n8n execution stopped' } });
		// The node's loop ended: no status checks went out (and failed as aborted) after the stop.
		expect(host.logs.filter((l) => l.message.includes(task.taskId) && l.level === 'warn')).toEqual([]);
	});
});

describe('run: batch and fire-and-forget', () => {
	test('batch: one task for all items, arrays concatenated in item order, the rest from the first item', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{ ids: ['a'], m: 'first' }, { ids: ['b', 'c'], m: 'second' }, { ids: ['d'], m: 'third' }],
			parameters: runParams('echo', { leadIds: '={{ $json.ids }}', message: '={{ $json.m }}' }, { batch: true }),
		});
		const out = expectSuccess(execution);
		expect(out).toHaveLength(1);
		expect(out[0].pairedItem).toEqual([{ item: 0 }, { item: 1 }, { item: 2 }]);
		expect(out[0].json).toMatchObject({
			status: 'completed',
			inputs: { leadIds: ['a', 'b', 'c', 'd'], message: 'first' },
			creditsReserved: 2,
		});
		const all = (await stack.request('GET', `/agents/${AGENT}/tasks`, { token })).body.tasks;
		expect(all).toHaveLength(1);
	});

	test('fire and forget outputs the accepted task at once', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{}, {}],
			parameters: runParams('slow', { ms: 300 }, { mode: 'fireAndForget' }),
		});
		const out = expectSuccess(execution);
		expect(out.map((i) => i.pairedItem)).toEqual([{ item: 0 }, { item: 1 }]);
		for (const item of out) {
			expect(item.json).toMatchObject({ agentId: AGENT, type: 'slow', status: 'submitted', creditsReserved: 1, outputs: null });
			await stack.waitForStatus(token, AGENT, String(item.json.taskId), ['completed']);
		}
	});
});

describe('get, list and cancel', () => {
	test('get returns the task; cancel cancels with the reason; cancelling a finished task is a conflict', async () => {
		const { token, credential } = await tenantCredential();
		// One step: no progress update (and so no change to compare against) until it ends.
		const created = await stack.request('POST', `/agents/${AGENT}/tasks`, { token, body: { type: 'slow', inputs: { ms: 20000, steps: 1 } } });
		const taskId = created.body.taskId as string;
		await stack.waitForStatus(token, AGENT, taskId, ['working']);
		const base = { operation: 'get', agentId: AGENT, taskId };

		const got = await host.runNode({ credential, items: [{ a: 1 }], parameters: base });
		expect(expectSuccess(got)).toEqual([{ json: await taskInGateway(token, taskId), pairedItem: { item: 0 } }]);

		const cancelled = await host.runNode({ credential, parameters: { ...base, operation: 'cancel', reason: 'no longer needed' } });
		expect(expectSuccess(cancelled)[0].json).toMatchObject({ taskId, status: 'cancelled', error: { message: 'no longer needed' } });

		const again = await host.runNode({ credential, parameters: { ...base, operation: 'cancel' } });
		expect(again.status).toBe('error');
		expect((again.error as NodeApiError).httpCode).toBe('409');
		expect(again.error!.message).toMatch(/^Conflict: /);

		const missing = await host.runNode({ credential, onError: 'continueRegularOutput', parameters: { ...base, taskId: '00000000-0000-4000-8000-000000000000' } });
		expect(expectSuccess(missing)[0].json.error).toMatchObject({ httpCode: 404, code: 'not_found' });
		expect((expectSuccess(missing)[0].json.error as IDataObject).message).toMatch(/^Not found: /);
	});

	test('list follows the cursor for returnAll and for limits over a page, with filters', async () => {
		const { token, credential } = await tenantCredential(1000);
		const ids: string[] = [];
		for (let i = 0; i < 130; i++) {
			const res = await stack.request('POST', `/agents/${AGENT}/tasks`, { token, body: { type: 'noop', inputs: { n: i } } });
			ids.push(res.body.taskId);
		}
		const echo = await stack.request('POST', `/agents/${AGENT}/tasks`, { token, body: { type: 'echo', inputs: { leadIds: ['z'] } } });

		const all = await host.runNode({ credential, items: [{}], parameters: { operation: 'list', agentId: AGENT, type: 'noop', returnAll: true } });
		const listed = expectSuccess(all);
		expect(listed).toHaveLength(130);
		expect(new Set(listed.map((i) => i.json.taskId))).toEqual(new Set(ids));
		expect(listed.every((i) => (i.pairedItem as { item: number }).item === 0)).toBe(true);

		const limited = await host.runNode({ credential, parameters: { operation: 'list', agentId: AGENT, returnAll: false, limit: 120 } });
		const page = expectSuccess(limited);
		expect(page).toHaveLength(120);
		expect(page[0].json.type).toBe('echo'); // newest first
		expect(new Set(page.map((i) => i.json.taskId)).size).toBe(120);

		await stack.waitForStatus(token, AGENT, echo.body.taskId, ['completed']);
		const completed = await host.runNode({ credential, parameters: { operation: 'list', agentId: AGENT, status: 'completed', type: 'echo', limit: 5 } });
		expect(expectSuccess(completed).map((i) => [i.json.taskId, i.json.status])).toEqual([[echo.body.taskId, 'completed']]);
		const none = await host.runNode({ credential, parameters: { operation: 'list', agentId: AGENT, status: 'failed', limit: 5 } });
		expect(expectSuccess(none)).toEqual([]);
	});
});

describe('credential', () => {
	test('signing-secret mode mints an HS256 token once, reuses it, and mints again after a 401 or a tenant change', async () => {
		const tenantA = await stack.tenant(100);
		const tenantB = await stack.tenant(100);
		const credential = host.credentials.add(CREDENTIAL_TYPE, {
			baseUrl: `${stack.url}/`,
			authMode: 'signingSecret',
			agentId: 'n8n-unit',
			tenantId: tenantA,
			signingSecret: stack.config.jwtSecret,
			issuer: '',
			accessToken: '',
			mintedFor: '',
		});
		const stored = () => host.credentials.stored.get(credential.id!)!.data;
		const run = async () => expectSuccess(await host.runNode({ credential, parameters: runParams('noop', {}) }))[0].json;

		const first = await run();
		expect(host.credentials.refreshes.get(credential.id!)).toBe(1);
		const [, payload] = String(stored().accessToken).split('.');
		const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
		expect(claims).toMatchObject({ agentId: 'n8n-unit', tenantId: tenantA, scopes: ['a2a:call', 'a2a:read'] });
		expect(claims.exp - claims.iat).toBe(3600);
		const tokenA = stack.token(tenantA);
		expect(await taskInGateway(tokenA, String(first.taskId))).toMatchObject({ status: 'completed' });

		await run();
		expect(host.credentials.refreshes.get(credential.id!)).toBe(1);

		// An expired token: the gateway's 401 makes n8n mint a new one and retry.
		stored().accessToken = mintGatewayToken(stack.config.jwtSecret, { agentId: 'n8n-unit', tenantId: tenantA }, Math.floor(Date.now() / 1000) - 7200);
		await run();
		expect(host.credentials.refreshes.get(credential.id!)).toBe(2);

		// The credential now names another tenant: the token minted for the first is not sent.
		stored().tenantId = tenantB;
		const forB = await run();
		expect(host.credentials.refreshes.get(credential.id!)).toBe(3);
		expect(await taskInGateway(stack.token(tenantB), String(forB.taskId))).toMatchObject({ status: 'completed' });
		expect((await stack.request('GET', `/agents/${AGENT}/tasks/${forB.taskId}`, { token: tokenA })).status).toBe(404);

		// A wrong secret is refused by the gateway, with a message about the credential.
		stored().signingSecret = 'not-the-secret';
		stored().accessToken = '';
		const refused = await host.runNode({ credential, parameters: runParams('noop', {}) });
		expect(refused.status).toBe('error');
		expect(refused.error!.message).toMatch(/^The gateway refused the credential: invalid token/);
	});

	test('an unreachable gateway says so', async () => {
		const credential = host.credentials.add(CREDENTIAL_TYPE, { baseUrl: 'http://127.0.0.1:9', authMode: 'token', token: 'x', accessToken: '' });
		const execution = await host.runNode({ credential, parameters: runParams('noop', {}) });
		expect(execution.status).toBe('error');
		expect(execution.error!.message).toBe('Cannot reach the DealScale gateway at http://127.0.0.1:9');
	});
});

describe('run: release and resume', () => {
	const resumeUrlOf = (execution: Execution) => {
		const runs = execution.run.data.resultData.runData['A2A Agent'];
		return runs[runs.length - 1].metadata?.resumeUrl as string;
	};

	async function callbackUrlOf(tenantId: string, taskId: string): Promise<string> {
		const row = await withTenant(stack.owner, tenantId, (tx) =>
			tx.one<{ callback_url: string }>('SELECT callback_url FROM tasks WHERE id = $1', [taskId]),
		);
		return row!.callback_url;
	}

	test('the task is created with the resume URL as callbackUrl; the delivery resumes the execution with the task', async () => {
		const { tenantId, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{ n: 1 }],
			parameters: runParams('slow', { ms: 300, steps: 2 }, { mode: 'releaseAndResume', options: { timeout: 600 } }),
		});
		expect(execution.status).toBe('waiting');
		expect(execution.run.waitTill!.getTime()).toBeGreaterThan(Date.now() + 590_000);
		const accepted = execution.output!;
		expect(accepted).toHaveLength(1);
		expect(accepted[0].json).toMatchObject({ status: 'submitted', type: 'slow' });
		const resumeUrl = resumeUrlOf(execution);
		expect(resumeUrl).toMatch(new RegExp(`^${hostUrl}/webhook-waiting/${execution.id}\\?signature=[0-9a-f]{32}$`));
		expect(await callbackUrlOf(tenantId, String(accepted[0].json.taskId))).toBe(resumeUrl);

		const resumed = await execution.resumed!;
		const [item] = expectSuccess(resumed);
		expect(item.pairedItem).toEqual({ item: 0 });
		expect(item.json).toMatchObject({ taskId: accepted[0].json.taskId, status: 'completed', outputs: { sleptMs: 300 } });
	});

	test('several items: the execution resumes once every task finished, a failed one output with its status', async () => {
		const { credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			items: [{ cap: 'slow', ms: 1500 }, { cap: 'fail' }],
			parameters: {
				...runParams('slow', {}, { mode: 'releaseAndResume' }),
				capability: '={{ $json.cap }}',
				inputMode: 'json',
				inputsJson: '={{ $json.cap === "slow" ? JSON.stringify({ ms: $json.ms }) : "{}" }}',
			},
		});
		expect(execution.status).toBe('waiting');
		const out = expectSuccess(await execution.resumed!);
		expect(out.map((i) => [i.pairedItem, i.json.type, i.json.status])).toEqual([
			[{ item: 0 }, 'slow', 'completed'],
			[{ item: 1 }, 'fail', 'failed'],
		]);
		expect(out[1].json.error).toEqual({ code: 'boom', message: 'the test capability failed on purpose' });
		// 409s are deliveries that came while the execution was still going to wait (the gateway retries them).
		const calls = host.waitingWebhookCalls.filter((c) => c.executionId === execution.id && c.status !== 409);
		// The fail task's delivery came first and did not resume; the slow one's did.
		expect(calls.map((c) => c.status)).toEqual([200, 200]);
		expect(calls[1].body).toBe('resumed');
	});

	test('webhook() refuses a delivery without a valid signature and ignores tasks that are not its own', async () => {
		const { token, credential } = await tenantCredential();
		const execution = await host.runNode({
			credential,
			parameters: runParams('slow', { ms: 20000 }, { mode: 'releaseAndResume' }),
		});
		expect(execution.status).toBe('waiting');
		const resumeUrl = resumeUrlOf(execution);
		const taskId = String(execution.output![0].json.taskId);
		const secret = (await stack.request('GET', '/webhooks/signing-secret', { token })).body.secret as string;
		const post = (body: string, signature?: string) =>
			fetch(resumeUrl, {
				method: 'POST',
				headers: { 'content-type': 'application/json', ...(signature ? { 'x-dealscale-signature': signature } : {}) },
				body,
			});
		const sign = (body: string, key = secret, t = Math.floor(Date.now() / 1000)) =>
			`t=${t},v1=${createHmac('sha256', key).update(`${t}.`).update(body).digest('hex')}`;
		const forged = JSON.stringify({ event: 'completed', deliveredAt: new Date().toISOString(), task: { taskId, agentId: AGENT, type: 'slow', status: 'completed', outputs: { forged: true } } });

		expect((await post(forged)).status).toBe(401);
		expect((await post(forged, sign(forged, 'another-secret'))).status).toBe(401);
		expect((await post(forged, sign(forged, secret, Math.floor(Date.now() / 1000) - 600))).status).toBe(401);
		expect((await post(forged, sign(forged.replace('forged', 'f0rged')))).status).toBe(401);
		const stranger = forged.replace(taskId, '00000000-0000-4000-8000-000000000000');
		const ignored = await post(stranger, sign(stranger));
		expect(ignored.status).toBe(200);
		expect(await ignored.json()).toEqual({ received: true, resumed: false, reason: 'not a task of this execution' });
		expect((await fetch(resumeUrl.replace(/signature=\w+/, 'signature=0'), { method: 'POST', body: '{}' })).status).toBe(401);

		// Still waiting after all that; the real delivery (a cancelled task) resumes it.
		await sleep(100);
		await stack.request('POST', `/agents/${AGENT}/tasks/${taskId}/cancel`, { token, body: { reason: 'stop' } });
		const [item] = expectSuccess(await execution.resumed!);
		expect(item.json).toMatchObject({ taskId, status: 'cancelled', error: { message: 'stop' } });
	});
});
