/**
 * Two deployments on one Redis (issue 10): by default each derives its queue prefix from the id in
 * its own database, so they never meet; forced onto one prefix, a worker leaves the other
 * deployment's jobs for their owner and warns, instead of dropping them.
 */
import { Writable } from "node:stream";
import pino from "pino";
import Redis from "ioredis";
import { createMigratedDatabase, dropDatabase, eventually, testDatabaseUrl, testEnv } from "./support/harness";
import { startStack, type Stack } from "../src/stack";
import { createTenant } from "../src/tasks/tenants";
import { createOwnerPool } from "../src/store/database";
import type { Config } from "../src/config/config";
import { signToken } from "../src/gateway/auth";

const A = "test-agent";
const stacks: Stack[] = [];
const databases: string[] = [];
const prefixes = new Set<string>();

/** A log that keeps its lines, to read what a worker said. */
function capturingLog(): { log: pino.Logger; lines: () => Array<Record<string, unknown>> } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: "info" }, sink), lines: () => lines.map((l) => JSON.parse(l)) };
}

async function deployment(extra: Record<string, string>): Promise<{ config: Config; env: Record<string, string> }> {
  const env = testEnv(testDatabaseUrl(), extra);
  const config = await createMigratedDatabase(env);
  databases.push(config.databaseUrl);
  return { config, env };
}

async function start(config: Config, roles: "gateway" | "worker" | "gateway,worker", log = pino({ level: "silent" })): Promise<Stack> {
  const stack = await startStack({ ...config, roles: { gateway: roles.includes("gateway"), worker: roles.includes("worker") } }, { log, listen: roles.includes("gateway") });
  stacks.push(stack);
  prefixes.add(stack.queuePrefix);
  return stack;
}

afterAll(async () => {
  for (const s of stacks.reverse()) await s.stop(0).catch(() => undefined);
  const redis = new Redis(process.env.REDIS_URL || "redis://127.0.0.1:6379");
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  }
  redis.disconnect();
  for (const db of databases) await dropDatabase(db);
});

test("without QUEUE_PREFIX each database gets its own prefix, shared by all the processes that serve it", async () => {
  const one = await deployment({ QUEUE_PREFIX: "" });
  const two = await deployment({ QUEUE_PREFIX: "" });
  expect(one.config.queuePrefix).toBeUndefined();
  const gateway = await start(one.config, "gateway");
  const worker = await start(one.config, "worker");
  const other = await start(two.config, "gateway,worker");
  expect(gateway.queuePrefix).toMatch(/^\{dealscale-[0-9a-f]{12}\}$/);
  expect(worker.queuePrefix).toBe(gateway.queuePrefix);
  expect(worker.deploymentId).toBe(gateway.deploymentId);
  expect(other.queuePrefix).not.toBe(gateway.queuePrefix);
  expect(gateway.queuePrefix).toBe(`{dealscale-${gateway.deploymentId.replace(/-/g, "").slice(0, 12)}}`);

  // A task created on one deployment runs there.
  const owner = createOwnerPool(one.config);
  try {
    const tenant = (await createTenant(owner, "t", 10)).tenantId;
    const token = signToken(one.config.jwtSecret, { agentId: "me", tenantId: tenant, scopes: ["a2a:call", "a2a:read"] }, 600);
    const res = await fetch(`${gateway.url}/agents/${A}/tasks`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ type: "noop", inputs: {} }) });
    const { taskId } = (await res.json()) as { taskId: string };
    await eventually("the task to complete", async () => (await owner.query("SELECT status FROM tasks WHERE id = $1", [taskId])).rows[0]?.status === "completed");
  } finally {
    await owner.end();
  }
});

test("forced onto one prefix, a worker leaves the other deployment's jobs for their owner and warns; none is dropped", async () => {
  const shared = `{dstest-shared-${Date.now()}}`;
  // The owner's reconciler is slowed down so that only the queue can bring its tasks to a worker.
  const mine = await deployment({ QUEUE_PREFIX: shared, RECONCILE_INTERVAL_MS: "3600000" });
  const theirs = await deployment({ QUEUE_PREFIX: shared });
  const gateway = await start(mine.config, "gateway");
  const { log, lines } = capturingLog();
  await start(theirs.config, "worker", log);

  const owner = createOwnerPool(mine.config);
  try {
    const tenant = (await createTenant(owner, "t", 100)).tenantId;
    const token = signToken(mine.config.jwtSecret, { agentId: "me", tenantId: tenant, scopes: ["a2a:call", "a2a:read"] }, 600);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${gateway.url}/agents/${A}/tasks`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify({ type: "noop", inputs: { n: i } }) });
      ids.push(((await res.json()) as { taskId: string }).taskId);
    }
    const warned = () => lines().filter((l) => /left for its owner/.test(String(l.msg)));
    await eventually("the other deployment's worker to return every job", () => new Set(warned().map((l) => l.jobId)).size === 20);
    expect(warned()[0]).toMatchObject({ level: 40, why: "stamped by another deployment", owner: gateway.deploymentId, returns: 1 });
    expect(lines().some((l) => /dropped/.test(String(l.msg)))).toBe(false);
    const stillThere = await Promise.all(ids.map((id) => gateway.queues.queue(A).getJob(id)));
    expect(stillThere.every((j) => j !== undefined)).toBe(true);
    const submitted = await owner.query("SELECT count(*)::int AS n FROM tasks WHERE status = 'submitted'");
    expect(submitted.rows[0].n).toBe(20);

    // The owner's worker comes up and runs every one of them.
    await start(mine.config, "worker");
    await eventually("all 20 tasks to complete", async () => (await owner.query("SELECT count(*)::int AS n FROM tasks WHERE status = 'completed'")).rows[0].n === 20, 20_000);
  } finally {
    await owner.end();
  }
});
