import { eventually, startTestStack, readSse, type SseEvent, type TestStack } from "./support/harness";
import { tenantBalance } from "../src/tasks/tenants";
import { randomUUID } from "node:crypto";
import { finishTasks, startTasks } from "../src/tasks/task-store";
import { withTenant } from "../src/store/tenant-tx";
import { appendAudit, verifyAuditChain } from "../src/tasks/audit";

let t: TestStack;
let tenant: string;
let token: string;
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack();
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => t?.close());

const create = (body: unknown, tok = token) => t.request("POST", `/agents/${A}/tasks`, { token: tok, body });
const ledger = async (taskId: string) =>
  (await t.owner.query("SELECT kind, amount_milli::int AS amount FROM credit_ledger WHERE task_id = $1 ORDER BY kind", [taskId])).rows;

test("a task is created (202), run by a worker, completed and charged what it used", async () => {
  const before = await tenantBalance(t.owner, tenant);
  const res = await create({ type: "echo", inputs: { leadIds: ["a", "b", "c"], message: "hi" } });
  expect(res.status).toBe(202);
  expect(res.body).toMatchObject({ status: "submitted", creditsReserved: 1.5 });
  expect(res.headers.get("location")).toBe(`/agents/${A}/tasks/${res.body.taskId}`);
  const done = await t.waitForStatus(token, A, res.body.taskId, ["completed"]);
  expect(done).toMatchObject({ outputs: { echoed: { message: "hi" } }, creditsReserved: 1.5, creditsUsed: 1, progress: 100, error: null });
  for (const k of ["taskId", "status", "progress", "inputs", "outputs", "error", "creditsReserved", "creditsUsed", "createdAt", "updatedAt", "completedAt"]) {
    expect(done).toHaveProperty(k);
  }
  expect(await ledger(res.body.taskId)).toEqual([
    { kind: "charge", amount: 1000 },
    { kind: "release", amount: 500 },
    { kind: "reserve", amount: 1500 },
  ]);
  expect(await tenantBalance(t.owner, tenant)).toBe(before! - 1);
});

test("a capability without a handler fails as not implemented and gives the credits back", async () => {
  const before = await tenantBalance(t.owner, tenant);
  const res = await create({ type: "unimplemented", inputs: {} });
  const done = await t.waitForStatus(token, A, res.body.taskId, ["failed"]);
  expect(done.error).toMatchObject({ code: "not_implemented" });
  expect(done.error.message).toMatch(/not implemented yet/);
  expect(done.creditsUsed).toBe(0);
  expect(await tenantBalance(t.owner, tenant)).toBe(before);
  expect((await ledger(res.body.taskId)).map((r) => r.kind)).toEqual(["release", "reserve"]);
});

test("a non-retryable failure charges only the partial cost the capability declares", async () => {
  const before = await tenantBalance(t.owner, tenant);
  const res = await create({ type: "fail", inputs: { used: 0.5 } });
  const done = await t.waitForStatus(token, A, res.body.taskId, ["failed"]);
  expect(done.error).toEqual({ code: "boom", message: "the test capability failed on purpose" });
  expect(done.creditsUsed).toBe(0.5);
  expect(await tenantBalance(t.owner, tenant)).toBe(before! - 0.5);
});

test("a retryable error goes back to BullMQ and the task completes once, charged once", async () => {
  const res = await create({ type: "flaky", inputs: { key: res0(), failTimes: 2 } });
  const done = await t.waitForStatus(token, A, res.body.taskId, ["completed"]);
  expect(done.outputs).toEqual({ attempts: 3, creditsUsed: 1 });
  expect((await ledger(res.body.taskId)).filter((r) => r.kind === "charge")).toHaveLength(1);
  const audit = await t.owner.query("SELECT event_type FROM audit_logs WHERE task_id = $1 ORDER BY seq", [res.body.taskId]);
  expect(audit.rows.map((r) => r.event_type)).toEqual(["task_created", "task_completed"]);
});

test("outputs that break the capability's schema fail the task instead of completing it", async () => {
  const res = await create({ type: "badOutput", inputs: {} });
  const done = await t.waitForStatus(token, A, res.body.taskId, ["failed"]);
  expect(done.error.code).toBe("invalid_output");
});

test("a run past the capability's SLA ends in timeout, aborts the handler and releases the credits", async () => {
  const before = await tenantBalance(t.owner, tenant);
  const res = await create({ type: "tight", inputs: { ms: 5000 } });
  const done = await t.waitForStatus(token, A, res.body.taskId, ["timeout"], 10_000);
  expect(done.error.code).toBe("timeout");
  expect(Date.parse(done.completedAt) - Date.parse(done.startedAt)).toBeLessThan(3000);
  expect(await tenantBalance(t.owner, tenant)).toBe(before);
});

test("the same idempotencyKey returns the first task, reserved once", async () => {
  const body = { type: "noop", inputs: { n: 1 }, idempotencyKey: "order-42" };
  const [a, b] = await Promise.all([create(body), create(body)]);
  expect(a.status).toBe(202);
  expect(b.status).toBe(202);
  expect(b.body.taskId).toBe(a.body.taskId);
  const replayed = [a, b].filter((r) => r.headers.get("idempotent-replayed") === "true");
  expect(replayed).toHaveLength(1);
  const reserves = await t.owner.query("SELECT count(*)::int AS n FROM credit_ledger WHERE task_id = $1 AND kind = 'reserve'", [a.body.taskId]);
  expect(reserves.rows[0].n).toBe(1);
  const other = await create({ ...body, inputs: { n: 2 } });
  expect(other.status).toBe(409);
  expect(other.body.error.code).toBe("idempotency_key_reused");
});

test("tasks are listed newest first, filtered by status, paginated by cursor", async () => {
  const fresh = await t.tenant(100);
  const tok = t.token(fresh);
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push((await create({ type: "noop", inputs: { n: i } }, tok)).body.taskId);
  for (const id of ids) await t.waitForStatus(tok, A, id, ["completed"]);
  const unimpl = (await create({ type: "unimplemented", inputs: {} }, tok)).body.taskId;
  await t.waitForStatus(tok, A, unimpl, ["failed"]);

  const page1 = await t.request("GET", `/agents/${A}/tasks?status=completed&limit=2`, { token: tok });
  expect(page1.status).toBe(200);
  expect(page1.body.tasks.map((x: any) => x.taskId)).toEqual([ids[4], ids[3]]);
  const page2 = await t.request("GET", `/agents/${A}/tasks?status=completed&limit=2&cursor=${page1.body.nextCursor}`, { token: tok });
  expect(page2.body.tasks.map((x: any) => x.taskId)).toEqual([ids[2], ids[1]]);
  const page3 = await t.request("GET", `/agents/${A}/tasks?status=completed&limit=2&cursor=${page2.body.nextCursor}`, { token: tok });
  expect(page3.body.tasks.map((x: any) => x.taskId)).toEqual([ids[0]]);
  expect(page3.body.nextCursor).toBeNull();
  const failed = await t.request("GET", `/agents/${A}/tasks?status=failed`, { token: tok });
  expect(failed.body.tasks.map((x: any) => x.taskId)).toEqual([unimpl]);
  expect((await t.request("GET", `/agents/${A}/tasks?status=bogus`, { token: tok })).status).toBe(400);
  expect((await t.request("GET", `/agents/${A}/tasks?cursor=zzz`, { token: tok })).status).toBe(400);
});

test("SSE sends the current state, then progress and status events, and closes on a terminal state", async () => {
  const res = await create({ type: "slow", inputs: { ms: 600, steps: 3 } });
  const stream = await fetch(`${t.url}/agents/${A}/tasks/${res.body.taskId}/stream`, { headers: { authorization: `Bearer ${token}` } });
  expect(stream.status).toBe(200);
  expect(stream.headers.get("content-type")).toMatch(/text\/event-stream/);
  const frames = (await readSse(stream)).filter((e) => !e.comment);
  // Each named event is followed by its plain copy (same id, no event name) for EventSource.onmessage.
  const events = frames.filter((e) => e.event !== "message");
  expect(frames).toHaveLength(events.length * 2);
  events.forEach((e, i) => {
    expect(frames[2 * i]).toBe(e);
    expect(frames[2 * i + 1]).toMatchObject({ event: "message", id: e.id });
  });
  expect(events[0].event).toBe("state");
  const kinds = events.map((e) => `${e.event}:${JSON.parse(e.data).status ?? JSON.parse(e.data).progress}`);
  expect(kinds).toEqual(expect.arrayContaining(["progress:33", "progress:67", "progress:100", "status:completed"]));
  expect(events[events.length - 1].event).toBe("status");
  const ids = events.map((e) => Number(e.id));
  expect([...ids].sort((x, y) => x - y)).toEqual(ids);
});

test("an SSE client reconnecting with Last-Event-ID gets exactly the events it missed", async () => {
  const res = await create({ type: "slow", inputs: { ms: 900, steps: 3 } });
  const url = `${t.url}/agents/${A}/tasks/${res.body.taskId}/stream`;
  const first = await readSse(await fetch(url, { headers: { authorization: `Bearer ${token}` } }), (ev) => ev.some((e) => e.event === "progress"));
  const lastSeen = first.filter((e) => e.id).pop()!;
  await t.waitForStatus(token, A, res.body.taskId, ["completed"]);
  const frames = (await readSse(await fetch(url, { headers: { authorization: `Bearer ${token}`, "Last-Event-ID": lastSeen.id! } }))).filter((e) => !e.comment);
  const replay = frames.filter((e) => e.event !== "message");
  const all = await t.owner.query("SELECT id::text FROM task_events WHERE task_id = $1 AND id > $2 ORDER BY id", [res.body.taskId, lastSeen.id]);
  expect(replay.map((e) => e.id)).toEqual(all.rows.map((r) => r.id));
  expect(frames.filter((e) => e.event === "message").map((e) => e.id)).toEqual(all.rows.map((r) => r.id));
  expect(replay.some((e) => e.event === "state")).toBe(false);
  expect(JSON.parse(replay[replay.length - 1].data).status).toBe("completed");
});

test("SSE: a task that finishes while the stream reads its snapshot still ends the stream", async () => {
  // Deterministic interleaving: the test holds an exclusive lock on task_events, so the stream's
  // snapshot waits on its event-id read; the task is finished (row, event) in the test's transaction,
  // which commits, and its event is published as the service does. A snapshot that read the task
  // before the event id took the finished event's id with the old state, and dropped the live event.
  const res = await create({ type: "slow", inputs: { ms: 3000, steps: 1 } });
  const taskId = res.body.taskId;
  await t.waitForStatus(token, A, taskId, ["working"]);
  const client = await t.owner.connect();
  let streamed: Promise<SseEvent[]> | undefined;
  try {
    await client.query("BEGIN");
    await client.query("LOCK TABLE task_events IN ACCESS EXCLUSIVE MODE");
    // Not awaited: the stream answers (headers included) only once its snapshot is read.
    streamed = fetch(`${t.url}/agents/${A}/tasks/${taskId}/stream`, { headers: { authorization: `Bearer ${token}` } }).then((stream) => readSse(stream, undefined, 5_000));
    await eventually("the stream's read to wait on the table lock", async () => (await t.owner.query(
      `SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE c.relname = 'task_events' AND NOT l.granted AND a.query LIKE 'SELECT max(id)%'`,
    )).rowCount! > 0, 5_000);
    const [finished] = await finishTasks(client, [
      { tenantId: tenant, taskId, finish: { status: "cancelled", error: { code: "cancelled", message: "finished mid-snapshot" }, creditsUsedMilli: 0n, auditEvent: "task_cancelled", agentId: A } },
    ]);
    await client.query("COMMIT");
    await t.stack.events.publish(finished!.event);
  } finally {
    client.release();
  }
  const events = (await streamed!).filter((e) => !e.comment);
  const last = JSON.parse(events[events.length - 1].data);
  expect(last.status).toBe("cancelled");
});

test("starts of several tenants in one statement: each startable task moves to working once, with one event; a finished one, and one listed under another tenant, are left alone", async () => {
  const other = await t.tenant(10);
  const [a, b, done, theirs] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
  await withTenant(t.owner, tenant, (tx) => tx.query(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs, completed_at)
     VALUES ($1, $4, $5, 'noop', 'submitted', '{}', NULL), ($2, $4, $5, 'noop', 'submitted', '{}', NULL), ($3, $4, $5, 'noop', 'completed', '{}', now())`,
    [a, b, done, tenant, A],
  ));
  await withTenant(t.owner, other, (tx) => tx.query(`INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs) VALUES ($1, $2, $3, 'noop', 'submitted', '{}')`, [theirs, other, A]));
  // As the app role, under row-level security: the other tenant's task named under this tenant is not found.
  const results = await startTasks(t.app, [
    { tenantId: tenant, taskId: a },
    { tenantId: tenant, taskId: done },
    { tenantId: other, taskId: b },
    { tenantId: tenant, taskId: theirs },
    { tenantId: tenant, taskId: b },
    { tenantId: tenant, taskId: a },
  ]);
  expect(results.map((r) => r?.task.status ?? null)).toEqual(["working", null, null, null, "working", "working"]);
  expect(results[0]!.task).toMatchObject({ id: a, tenantId: tenant });
  expect(results[5]).toEqual(results[0]);
  expect(results[4]!.event).toMatchObject({ taskId: b, kind: "status", data: { status: "working", attempt: 1 } });
  const rows = (await t.owner.query("SELECT id, status, attempts FROM tasks WHERE id = ANY($1)", [[a, b, done, theirs]])).rows;
  expect(rows).toEqual(expect.arrayContaining([
    { id: a, status: "working", attempts: 1 },
    { id: b, status: "working", attempts: 1 },
    { id: done, status: "completed", attempts: 0 },
    { id: theirs, status: "submitted", attempts: 0 },
  ]));
  const events = (await t.owner.query("SELECT task_id, count(*)::int AS n FROM task_events WHERE task_id = ANY($1) GROUP BY task_id", [[a, b, done, theirs]])).rows;
  expect(Object.fromEntries(events.map((e) => [e.task_id, e.n]))).toEqual({ [a]: 1, [b]: 1 });
  // The function leaves no tenant set behind on the pooled connection.
  const client = await t.app.connect();
  try {
    expect((await client.query("SELECT current_setting('app.current_tenant', true) AS t")).rows[0].t || "").toBe("");
  } finally {
    client.release();
  }
});

test("finishes of several tenants in one statement: each tenant's tasks charged and refunded to its own balance, audited in its own chain; a task listed under another tenant is left alone; a task finished twice finishes once", async () => {
  const one = await t.tenant(10);
  const two = await t.tenant(10);
  const [a, b, theirs] = [randomUUID(), randomUUID(), randomUUID()];
  const insert = (ten: string, id: string) => withTenant(t.owner, ten, (tx) => tx.query(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs, credits_reserved_milli) VALUES ($1, $2, $3, 'noop', 'working', '{}', 3000)`,
    [id, ten, A],
  ));
  await insert(one, a);
  await insert(two, b);
  await insert(two, theirs);
  const done = (used: bigint) => ({ status: "completed" as const, outputs: { ok: true }, creditsUsedMilli: used, auditEvent: "task_completed" });
  const cancel = { status: "cancelled" as const, error: { code: "cancelled", message: "late" }, creditsUsedMilli: 0n, auditEvent: "task_cancelled" };
  // As the app role, under row-level security; tenant two listed first, to be sorted.
  const results = await finishTasks(t.app, [
    { tenantId: two, taskId: b, finish: done(1000n) },
    { tenantId: one, taskId: a, finish: done(2000n) },
    { tenantId: one, taskId: theirs, finish: done(0n) },
    { tenantId: one, taskId: a, finish: cancel },
  ]);
  expect(results.map((r) => r?.task.status ?? null)).toEqual(["completed", "completed", null, null]);
  expect(results[1]!.task).toMatchObject({ id: a, tenantId: one, creditsUsedMilli: 2000n, outputs: { ok: true } });
  expect(results[0]!.event).toMatchObject({ taskId: b, kind: "status", data: { status: "completed", progress: 100 } });
  // Released credits go back to each task's own tenant: 10 + 1 (one) and 10 + 2 (two).
  expect(await tenantBalance(t.owner, one)).toBe(11);
  expect(await tenantBalance(t.owner, two)).toBe(12);
  expect((await t.owner.query("SELECT status FROM tasks WHERE id = $1", [theirs])).rows[0].status).toBe("working");
  const audited = (await t.owner.query("SELECT tenant_id, task_id, event_type FROM audit_logs WHERE task_id = ANY($1) ORDER BY tenant_id", [[a, b, theirs]])).rows;
  expect(audited).toEqual(expect.arrayContaining([
    { tenant_id: one, task_id: a, event_type: "task_completed" },
    { tenant_id: two, task_id: b, event_type: "task_completed" },
  ]));
  expect(audited).toHaveLength(2);
  for (const ten of [one, two]) expect(await verifyAuditChain(t.owner, ten)).toMatchObject({ ok: true });
  // Called inside a tenant transaction, it puts that transaction's tenant back.
  const client = await t.app.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT set_config('app.current_tenant', $1, true)", [two]);
    expect(await finishTasks(client, [{ tenantId: two, taskId: theirs, finish: cancel }])).toEqual([expect.objectContaining({ task: expect.objectContaining({ status: "cancelled" }) })]);
    expect((await client.query("SELECT current_setting('app.current_tenant', true) AS t")).rows[0].t).toBe(two);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
});

test("a finish takes its tenant's row before its audit chain, as a create batch does: the two wait for each other without a deadlock", async () => {
  const ten = await t.tenant(10);
  const id = randomUUID();
  await withTenant(t.owner, ten, (tx) => tx.query(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs, credits_reserved_milli) VALUES ($1, $2, $3, 'noop', 'working', '{}', 3000)`,
    [id, ten, A],
  ));
  // A create batch's order, held open: the tenant row, then (once the finish waits) the audit chain.
  const create = await t.app.connect();
  try {
    await create.query("BEGIN");
    await create.query("SELECT set_config('app.current_tenant', $1, true)", [ten]);
    await create.query("SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", [ten]);
    const finished = finishTasks(t.app, [{ tenantId: ten, taskId: id, finish: { status: "completed", outputs: {}, creditsUsedMilli: 1000n, auditEvent: "task_completed" } }]);
    await eventually("the finish to wait on the tenant row", async () => (await t.owner.query(
      "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%ds_finish_tasks%'",
    )).rowCount! > 0, 5_000);
    // Had the finish taken the audit chain first, this insert and the finish would deadlock.
    await appendAudit({ tenantId: ten, query: async (sql, params) => (await create.query(sql, params as unknown[])).rows, one: async () => undefined, copyIn: async () => undefined }, { eventType: "credits_granted" });
    await create.query("COMMIT");
    expect((await finished)[0]!.task.status).toBe("completed");
  } finally {
    create.release();
  }
  expect(await verifyAuditChain(t.owner, ten)).toMatchObject({ ok: true });
});

test("the SSE heartbeat keeps a quiet stream alive", async () => {
  const hb = await startTestStack({ SSE_HEARTBEAT_MS: "150" });
  try {
    const ten = await hb.tenant(10);
    const tok = hb.token(ten);
    const res = await hb.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "slow", inputs: { ms: 700, steps: 1 } } });
    const events = await readSse(await fetch(`${hb.url}/agents/${A}/tasks/${res.body.taskId}/stream`, { headers: { authorization: `Bearer ${tok}` } }));
    expect(events.filter((e) => e.comment).length).toBeGreaterThanOrEqual(2);
  } finally {
    await hb.close();
  }
});

let counter = 0;
function res0() {
  return `flaky-${process.pid}-${Date.now()}-${counter++}`;
}
