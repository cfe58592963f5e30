/**
 * The A2A Trigger as n8n runs it: activation and deactivation through its webhookMethods in
 * n8n-core's HookContext, deliveries through webhook() in n8n-core's WebhookContext behind an HTTP
 * endpoint that reads raw bodies as n8n does (support/trigger-host.ts on top of support/n8n-host.ts),
 * against a real gateway and webhook workers on throw-away Postgres and Redis (agent-services' test
 * harness with the test-agent plugin). The gateway delivers to 127.0.0.1, hence WEBHOOK_ALLOW_PRIVATE.
 * Also the unit tests of nodes/shared/signature.ts.
 */
import { createHmac } from 'node:crypto';
import type { IDataObject, INodeCredentialsDetails, INodeParameters } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { eventually, startTestStack, sleep, type TestStack } from '../../agent-services/test/support/harness';
import { signatureHeader } from '../../agent-services/src/webhooks/signing';
import {
	DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
	verifyDealScaleSignature,
} from '../nodes/shared/signature';
import { A2aTrigger } from '../nodes/A2aTrigger/A2aTrigger.node';
import { CREDENTIAL_TYPE, N8nHost } from './support/n8n-host';
import { TriggerHost, type TriggerWorkflow } from './support/trigger-host';

const AGENT = 'test-agent';
const now = () => Math.floor(Date.now() / 1000);

describe('signature.ts: verifyDealScaleSignature', () => {
	const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlYw';
	const body = '{"event":"completed","deliveredAt":"2026-11-26T10:00:00.123Z","task":{"taskId":"t1","status":"completed"}}';
	const t = 1_764_150_000;

	test("accepts the gateway's own signature over the raw body, as a string or as bytes", () => {
		const header = signatureHeader(secret, body, t);
		expect(header).toMatch(/^t=1764150000,v1=[0-9a-f]{64}$/);
		expect(verifyDealScaleSignature(secret, body, header, t)).toBe(true);
		expect(verifyDealScaleSignature(secret, Buffer.from(body, 'utf8'), header, t)).toBe(true);
		// Non-ASCII bodies: the HMAC is over the UTF-8 bytes.
		const unicode = '{"event":"failed","task":{"error":{"message":"Zürich — ✓"}}}';
		expect(verifyDealScaleSignature(secret, Buffer.from(unicode, 'utf8'), signatureHeader(secret, unicode, t), t)).toBe(true);
	});

	test('is the HMAC-SHA256 hex of "<t>.<raw body>" keyed with the secret text', () => {
		const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
		expect(verifyDealScaleSignature(secret, body, `t=${t},v1=${v1}`, t)).toBe(true);
		expect(verifyDealScaleSignature(secret, body, `t=${t}, v1=${v1.toUpperCase()}`, t)).toBe(true);
		// The timestamp is part of the signed message: the same v1 with another t does not verify.
		expect(verifyDealScaleSignature(secret, body, `t=${t + 1},v1=${v1}`, t)).toBe(false);
	});

	test('refuses another body, another secret, or no secret', () => {
		const header = signatureHeader(secret, body, t);
		expect(verifyDealScaleSignature(secret, body.replace('"completed"', '"failed"'), header, t)).toBe(false);
		expect(verifyDealScaleSignature(secret, `${body} `, header, t)).toBe(false);
		expect(verifyDealScaleSignature(`${secret}x`, body, header, t)).toBe(false);
		expect(verifyDealScaleSignature('', body, signatureHeader('', body, t), t)).toBe(false);
	});

	test('refuses timestamps more than the tolerance away, either way; 300 s by default', () => {
		expect(DEFAULT_SIGNATURE_TOLERANCE_SECONDS).toBe(300);
		const header = signatureHeader(secret, body, t);
		expect(verifyDealScaleSignature(secret, body, header, t + 300)).toBe(true);
		expect(verifyDealScaleSignature(secret, body, header, t - 300)).toBe(true);
		expect(verifyDealScaleSignature(secret, body, header, t + 301)).toBe(false);
		expect(verifyDealScaleSignature(secret, body, header, t - 301)).toBe(false);
		expect(verifyDealScaleSignature(secret, body, header, t + 30, 10)).toBe(false);
		expect(verifyDealScaleSignature(secret, body, header, t + 30, 60)).toBe(true);
		// Without a time given, the clock: a fresh signature passes, a six-minute-old one does not.
		expect(verifyDealScaleSignature(secret, body, signatureHeader(secret, body))).toBe(true);
		expect(verifyDealScaleSignature(secret, body, signatureHeader(secret, body, now() - 360))).toBe(false);
	});

	test('refuses missing and malformed headers', () => {
		const v1 = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
		for (const header of [
			undefined,
			null,
			'',
			[`t=${t},v1=${v1}`],
			`v1=${v1}`,
			`t=${t}`,
			`t=${t},v0=${v1}`,
			`t=${t}.0,v1=${v1}`,
			`t=-${t},v1=${v1}`,
			`t=abc,v1=${v1}`,
			`t=${t},v1=${v1.slice(0, 63)}`,
			`t=${t},v1=${v1}00`,
			`t=${t},v1=${'z'.repeat(64)}`,
			`t=${t},t=${t},v1=${v1}`,
			`${t},${v1}`,
		]) {
			expect(verifyDealScaleSignature(secret, body, header, t)).toBe(false);
		}
	});

	test('accepts a header with several v1 signatures when one of them matches', () => {
		const good = createHmac('sha256', secret).update(`${t}.${body}`).digest('hex');
		const other = createHmac('sha256', 'old-secret').update(`${t}.${body}`).digest('hex');
		expect(verifyDealScaleSignature(secret, body, `t=${t},v1=${other},v1=${good}`, t)).toBe(true);
		expect(verifyDealScaleSignature(secret, body, `t=${t},v1=${other},v1=${other}`, t)).toBe(false);
	});
});

describe('A2A Trigger against a real gateway', () => {
	let stack: TestStack;
	let host: N8nHost;
	let triggers: TriggerHost;

	beforeAll(async () => {
		stack = await startTestStack({
			// The trigger's webhook endpoint is on 127.0.0.1.
			WEBHOOK_ALLOW_PRIVATE: 'true',
			WEBHOOK_BACKOFF_MS: '100',
			WEBHOOK_TIMEOUT_MS: '5000',
		});
		host = new N8nHost();
		triggers = new TriggerHost(host);
		await triggers.listen();
	});

	afterAll(async () => {
		await triggers?.close();
		await host?.close();
		await stack?.close();
	});

	async function tenantCredential(): Promise<{ token: string; credential: INodeCredentialsDetails }> {
		const tenantId = await stack.tenant(1000);
		const token = stack.token(tenantId);
		const credential = host.credentials.add(CREDENTIAL_TYPE, { baseUrl: stack.url, authMode: 'token', token, accessToken: '' });
		return { token, credential };
	}

	const params = (extra: INodeParameters = {}): INodeParameters => ({
		agentId: AGENT,
		capability: 'echo',
		events: ['completed', 'failed'],
		...extra,
	});

	async function subscription(token: string, id: unknown) {
		return await stack.request('GET', `/webhooks/${String(id)}`, { token });
	}

	async function subscriptions(token: string): Promise<IDataObject[]> {
		const res = await stack.request('GET', '/webhooks', { token });
		expect(res.status).toBe(200);
		return res.body.webhooks;
	}

	async function runTask(token: string, type: string, inputs: IDataObject, statuses = ['completed', 'failed']) {
		const res = await stack.request('POST', `/agents/${AGENT}/tasks`, { token, body: { type, inputs } });
		expect(res.status).toBe(202);
		return await stack.waitForStatus(token, AGENT, res.body.taskId, statuses);
	}

	/** Posts a delivery to the trigger's webhook URL as a sender other than the gateway would. */
	async function post(wf: TriggerWorkflow, body: string, headers: Record<string, string>) {
		const res = await fetch(wf.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
		return { status: res.status, body: (await res.json()) as IDataObject };
	}

	describe('editor', () => {
		test('getAgents lists the registry; getCapabilities offers "Any Capability" and the agent card', async () => {
			const { credential } = await tenantCredential();
			const { loadOptions } = new A2aTrigger().methods;
			const agents = await loadOptions.getAgents.call(host.loadOptionsContext({}, credential));
			expect(agents).toEqual(
				expect.arrayContaining([
					expect.objectContaining({ value: AGENT, name: 'TestAgent (test-agent)' }),
					expect.objectContaining({ value: 'data-engineer' }),
				]),
			);
			const capabilities = await loadOptions.getCapabilities.call(host.loadOptionsContext({ agentId: AGENT }, credential));
			expect(capabilities.map((c) => c.value)).toEqual(['', 'badOutput', 'echo', 'fail', 'flaky', 'holdTx', 'noop', 'rows', 'slow', 'tight', 'unimplemented']);
			expect(capabilities[0]).toMatchObject({ name: 'Any Capability', value: '' });
			expect(await loadOptions.getCapabilities.call(host.loadOptionsContext({ agentId: '' }, credential))).toEqual([
				expect.objectContaining({ value: '' }),
			]);
		});
	});

	describe('activation and deactivation (webhookMethods)', () => {
		test('create registers a subscription for the webhook URL, events, agent and capability, and keeps its id and secret', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			expect(await wf.lifecycle('checkExists')).toBe(false);
			expect(await wf.activate()).toBe(true);

			const { webhookId, secret } = wf.nodeStaticData;
			expect(typeof webhookId).toBe('string');
			const res = await subscription(token, webhookId);
			expect(res.status).toBe(200);
			expect(res.body).toMatchObject({ id: webhookId, url: wf.webhookUrl, agentId: AGENT, capability: 'echo', active: true });
			expect([...res.body.events].sort()).toEqual(['completed', 'failed']);
			expect(wf.webhookUrl).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:\\d+/webhook/${wf.node.webhookId}/webhook$`));
			// The secret kept is the one the gateway signs with.
			const { rows } = await stack.owner.query('SELECT secret FROM webhook_subscriptions WHERE id = $1', [webhookId]);
			expect(rows).toEqual([{ secret }]);

			// "Any capability" registers without one.
			const any = triggers.workflow(params({ capability: '', events: ['timeout', 'cancelled'] }), credential);
			await any.activate();
			const anyRes = await subscription(token, any.nodeStaticData.webhookId);
			expect(anyRes.body).toMatchObject({ agentId: AGENT, capability: null, url: any.webhookUrl });
			expect([...anyRes.body.events].sort()).toEqual(['cancelled', 'timeout']);
		});

		test('checkExists is true for an unchanged subscription, so reactivation keeps it', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const first = { ...wf.nodeStaticData };
			expect(await wf.lifecycle('checkExists')).toBe(true);
			expect(await wf.activate()).toBe(false);
			expect(wf.nodeStaticData).toEqual(first);
			expect((await subscriptions(token)).map((s) => s.id)).toEqual([first.webhookId]);
		});

		test('checkExists is false when the subscription was deleted elsewhere; activation registers a new one', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const old = wf.nodeStaticData.webhookId;
			expect((await stack.request('DELETE', `/webhooks/${String(old)}`, { token })).status).toBe(204);

			expect(await wf.lifecycle('checkExists')).toBe(false);
			expect(wf.nodeStaticData).toEqual({});
			expect(await wf.activate()).toBe(true);
			expect(wf.nodeStaticData.webhookId).not.toBe(old);
			expect((await subscriptions(token)).map((s) => s.id)).toEqual([wf.nodeStaticData.webhookId]);
		});

		test.each([
			['events', { events: ['completed'] }],
			['capability', { capability: 'noop' }],
			['capability to any', { capability: '' }],
			['agent', { agentId: 'data-engineer', capability: '' }],
		])('checkExists is false after the %s changed; the old subscription is removed', async (_what, change) => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const old = wf.nodeStaticData.webhookId;

			wf.setParameters(params(change as INodeParameters));
			expect(await wf.lifecycle('checkExists')).toBe(false);
			expect((await subscription(token, old)).status).toBe(404);
			expect(wf.nodeStaticData).toEqual({});

			expect(await wf.activate()).toBe(true);
			const [current] = await subscriptions(token);
			const expected = { ...params(), ...change } as IDataObject;
			expect(current).toMatchObject({ id: wf.nodeStaticData.webhookId, agentId: expected.agentId, capability: expected.capability || null });
			expect([...(current.events as string[])].sort()).toEqual([...(expected.events as string[])].sort());
		});

		test('checkExists is false when the webhook URL changed or the gateway deactivated the subscription', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();

			// n8n's public URL changed (WEBHOOK_URL): the subscription points at the old one.
			const served = triggers.webhookBaseUrl;
			triggers.webhookBaseUrl = served.replace('127.0.0.1', 'localhost');
			try {
				const old = wf.nodeStaticData.webhookId;
				expect(await wf.lifecycle('checkExists')).toBe(false);
				expect((await subscription(token, old)).status).toBe(404);
			} finally {
				triggers.webhookBaseUrl = served;
			}

			// A receiver that answered 410 Gone deactivates the subscription on the gateway.
			await wf.activate();
			const gone = wf.nodeStaticData.webhookId;
			await stack.owner.query('UPDATE webhook_subscriptions SET active = false WHERE id = $1', [gone]);
			expect(await wf.lifecycle('checkExists')).toBe(false);
			expect((await subscription(token, gone)).status).toBe(404);
			expect(await wf.activate()).toBe(true);
			expect((await subscription(token, wf.nodeStaticData.webhookId)).body.active).toBe(true);
		});

		test('checkExists is false when the secret was lost; the unverifiable subscription is removed', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const id = wf.nodeStaticData.webhookId;
			wf.staticData[`node:${wf.node.name}`] = { webhookId: id };

			expect(await wf.lifecycle('checkExists')).toBe(false);
			expect((await subscription(token, id)).status).toBe(404);
			expect(wf.nodeStaticData).toEqual({});
			expect(await wf.activate()).toBe(true);
			expect(wf.nodeStaticData.secret).toEqual(expect.any(String));
		});

		test('delete removes the subscription and forgets it; a subscription already gone counts as deleted', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const id = wf.nodeStaticData.webhookId;

			expect(await wf.deactivate()).toBe(true);
			expect((await subscription(token, id)).status).toBe(404);
			expect(wf.nodeStaticData).toEqual({});
			// Nothing on record: nothing to do.
			expect(await wf.deactivate()).toBe(true);

			await wf.activate();
			const other = wf.nodeStaticData.webhookId;
			expect((await stack.request('DELETE', `/webhooks/${String(other)}`, { token })).status).toBe(204);
			expect(await wf.deactivate()).toBe(true);
			expect(wf.nodeStaticData).toEqual({});
			expect(await subscriptions(token)).toEqual([]);
		});

		test('gateway refusals are not swallowed: a revoked credential fails checkExists and delete, a bad capability fails create', async () => {
			const { token, credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const kept = { ...wf.nodeStaticData };

			// A token for no known tenant's subscriptions: the gateway answers 401, not 404.
			const stored = host.credentials.stored.get(credential.id!)!;
			stored.data = { ...stored.data, token: 'not-a-jwt' };
			await expect(wf.lifecycle('checkExists')).rejects.toThrow(NodeApiError);
			await expect(wf.lifecycle('checkExists')).rejects.toMatchObject({ httpCode: '401' });
			await expect(wf.deactivate()).rejects.toMatchObject({ httpCode: '401' });
			// The subscription is still on record, so a later deactivation can remove it.
			expect(wf.nodeStaticData).toEqual(kept);
			stored.data = { ...stored.data, token };
			expect(await wf.deactivate()).toBe(true);
			expect(await subscriptions(token)).toEqual([]);

			const bad = triggers.workflow(params({ capability: 'nope' }), credential);
			const error = await bad.activate().then(
				() => undefined,
				(e: unknown) => e,
			);
			expect(error).toBeInstanceOf(NodeApiError);
			expect(error).toMatchObject({ httpCode: '400' });
			expect((error as Error).message).toContain('/capability');
			expect(bad.nodeStaticData).toEqual({});
		});

		test('create refuses a configuration without events', async () => {
			const { credential } = await tenantCredential();
			const wf = triggers.workflow(params({ events: [] }), credential);
			await expect(wf.activate()).rejects.toThrow(NodeOperationError);
			await expect(wf.activate()).rejects.toThrow('Choose at least one event');
		});
	});

	describe('deliveries (webhook)', () => {
		test("real deliveries from the gateway's webhook worker start one run each with {event, deliveredAt, task, deliveryId}", async () => {
			const { token, credential } = await tenantCredential();
			// Two triggers of one tenant: echo tasks that complete or fail, and failures of any capability.
			const echoes = triggers.workflow(params(), credential);
			const failures = triggers.workflow(params({ capability: '', events: ['failed'] }), credential);
			await echoes.activate();
			await failures.activate();

			const noop = await runTask(token, 'noop', {});
			const echo = await runTask(token, 'echo', { leadIds: ['a', 'b'], message: 'hi' });
			const failed = await runTask(token, 'fail', { retryable: false });
			expect(failed.status).toBe('failed');

			const [echoCall] = await echoes.waitForCalls(1);
			const [failCall] = await failures.waitForCalls(1);
			// Nothing else arrives: noop matches neither trigger, echo's completion is not a failure.
			await sleep(500);
			expect(echoes.calls).toHaveLength(1);
			expect(failures.calls).toHaveLength(1);

			for (const [call, task, event] of [
				[echoCall, echo, 'completed'],
				[failCall, failed, 'failed'],
			] as const) {
				expect(call.status).toBe(200);
				expect(call.items).toHaveLength(1);
				const { json } = call.items![0];
				expect(call.headers['x-dealscale-event']).toBe(event);
				expect(call.headers['x-dealscale-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
				// The item is the delivery body as signed, plus the delivery id for deduplication.
				expect(json).toEqual({ ...JSON.parse(call.rawBody.toString('utf8')), deliveryId: call.headers['x-dealscale-delivery'] });
				expect(json.deliveryId).toMatch(/^[0-9a-f-]{36}$/);
				expect(json.event).toBe(event);
				expect(Date.parse(json.deliveredAt as string)).not.toBeNaN();
				expect(json.task).toEqual((await stack.request('GET', `/agents/${AGENT}/tasks/${task.taskId}`, { token })).body);
			}
			expect(echoCall.items![0].json.task).toMatchObject({ type: 'echo', status: 'completed', outputs: { echoed: { leadIds: ['a', 'b'], message: 'hi' } } });
			expect(failCall.items![0].json.task).toMatchObject({ type: 'fail', status: 'failed', error: { code: 'boom' } });

			// The gateway recorded each delivery as made on its first attempt, and none for noop (a row is
			// written once the delivery's response is back, so it may trail the call by a moment).
			const rows = await eventually('both deliveries recorded', async () => {
				const { rows } = await stack.owner.query(
					'SELECT task_id::text, attempt, status_code, outcome FROM webhook_deliveries WHERE task_id = ANY($1::uuid[])',
					[[echo.taskId, failed.taskId, noop.taskId]],
				);
				return rows.length >= 2 && rows;
			}, 5000);
			expect(rows.map((r) => r.task_id).sort()).toEqual([echo.taskId, failed.taskId].sort());
			for (const row of rows) expect(row).toMatchObject({ attempt: 1, status_code: 200, outcome: 'delivered' });
		});

		test('a bad signature, a stale timestamp, a tampered body or no signature is answered 401 and starts nothing', async () => {
			const { credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const secret = wf.nodeStaticData.secret as string;
			const body = JSON.stringify({ event: 'completed', deliveredAt: new Date().toISOString(), task: { taskId: 'x', agentId: AGENT, type: 'echo', status: 'completed' } });

			const refused: Array<Record<string, string>> = [
				{ 'x-dealscale-signature': signatureHeader('another-secret', body) },
				// Well past the tolerance: the trigger reads the clock a moment later than this test,
				// so a timestamp one second over it could be back inside by then (the exact edge is
				// tested above with a fixed clock).
				{ 'x-dealscale-signature': signatureHeader(secret, body, now() - DEFAULT_SIGNATURE_TOLERANCE_SECONDS - 60) },
				{ 'x-dealscale-signature': signatureHeader(secret, body, now() + DEFAULT_SIGNATURE_TOLERANCE_SECONDS + 60) },
				{ 'x-dealscale-signature': signatureHeader(secret, body.replace('"completed"', '"failed"')) },
				{ 'x-dealscale-signature': 'garbage' },
				{},
			];
			for (const headers of refused) {
				const res = await post(wf, body, headers);
				expect(res.status).toBe(401);
				expect(res.body.error).toEqual(expect.any(String));
			}
			expect(wf.calls.map((c) => c.status)).toEqual(refused.map(() => 401));
			expect(wf.runs).toEqual([]);

			// The same body correctly signed goes through: the refusals were the signatures'.
			const ok = await post(wf, body, { 'x-dealscale-signature': signatureHeader(secret, body), 'x-dealscale-delivery': 'd-1' });
			expect(ok).toEqual({ status: 200, body: { message: 'Workflow was started' } });
			expect(wf.runs).toHaveLength(1);
			expect(wf.runs[0][0].json).toEqual({ ...JSON.parse(body), deliveryId: 'd-1' });
		});

		test('a signed body that is not a task event is answered 400 and starts nothing', async () => {
			const { credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const secret = wf.nodeStaticData.secret as string;
			for (const body of ['[1,2]', '{"event":"completed"}', '{"event":"completed","task":null}']) {
				const res = await post(wf, body, { 'x-dealscale-signature': signatureHeader(secret, body) });
				expect(res.status).toBe(400);
			}
			expect(wf.runs).toEqual([]);
		});

		test('after deactivation the old secret no longer opens the webhook', async () => {
			const { credential } = await tenantCredential();
			const wf = triggers.workflow(params(), credential);
			await wf.activate();
			const secret = wf.nodeStaticData.secret as string;
			await wf.deactivate();
			const body = JSON.stringify({ event: 'completed', deliveredAt: new Date().toISOString(), task: { taskId: 'x' } });
			const res = await post(wf, body, { 'x-dealscale-signature': signatureHeader(secret, body) });
			expect(res.status).toBe(401);
			expect(wf.runs).toEqual([]);
			expect(host.logs.some((l) => l.level === 'warn' && l.message.includes('no subscription secret is stored'))).toBe(true);
		});
	});
});

describe('A2A Trigger against a gateway with the default URL policy', () => {
	let stack: TestStack;
	let host: N8nHost;
	let triggers: TriggerHost;

	beforeAll(async () => {
		stack = await startTestStack();
		host = new N8nHost();
		triggers = new TriggerHost(host);
		await triggers.listen();
	});

	afterAll(async () => {
		await triggers?.close();
		await host?.close();
		await stack?.close();
	});

	test('a loopback webhook URL is refused with a 400 that says how to allow it', async () => {
		const tenantId = await stack.tenant(1000);
		const credential = host.credentials.add(CREDENTIAL_TYPE, { baseUrl: stack.url, authMode: 'token', token: stack.token(tenantId), accessToken: '' });
		const wf = triggers.workflow({ agentId: AGENT, capability: '', events: ['completed'] }, credential);
		const error = await wf.activate().then(
			() => undefined,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(NodeApiError);
		expect(error).toMatchObject({ httpCode: '400' });
		expect((error as Error).message).toContain('/url');
		expect((error as NodeApiError).description).toContain('WEBHOOK_ALLOW_PRIVATE=true');
		expect(wf.nodeStaticData).toEqual({});
	});
});
