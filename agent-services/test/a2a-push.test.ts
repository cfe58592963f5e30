/**
 * A2A push notifications: configs registered over A2A (in SendMessage or with the config methods)
 * are stored, listed and deleted through the SDK's client, and the webhook worker delivers the
 * finished task (and a task waiting in input-required) to them as an A2A StreamResponse with the A2A
 * authentication header and token.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";
import type { Client } from "@a2a-js/sdk/client";
import { TaskState, type Task } from "@a2a-js/sdk";
import { a2aClient, skillMessage, type Binding } from "./support/a2a";
import { startTestStack, sleep, type TestStack } from "./support/harness";

interface Received {
  headers: http.IncomingHttpHeaders;
  body: any;
}

let t: TestStack;
let token: string;
let receiver: http.Server;
let receiverUrl: string;
const received: Received[] = [];
const A = "test-agent";

beforeAll(async () => {
  t = await startTestStack({ WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_BACKOFF_MS: "50" });
  token = t.token(await t.tenant(100));
  receiver = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      received.push({ headers: req.headers, body: JSON.parse(raw) });
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
afterAll(async () => {
  await new Promise((r) => receiver?.close(r));
  await t?.close();
});

const clientFor = (binding: Binding): Promise<Client> => a2aClient(t.url, A, token, binding);
const msg = skillMessage;

async function deliveriesFor(taskId: string, n = 1, timeoutMs = 10_000): Promise<Received[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const mine = received.filter((r) => r.body?.task?.id === taskId);
    if (mine.length >= n || Date.now() > until) return mine;
    await sleep(50);
  }
}

describe.each(["JSONRPC", "HTTP+JSON"] as const)("over %s", (binding) => {
  test("a config sent with SendMessage gets the finished task as an A2A StreamResponse, with its auth header and token", async () => {
    const client = await clientFor(binding);
    const task = (await client.sendMessage({
      tenant: "",
      message: msg("echo", { leadIds: ["x"], message: "push" }),
      configuration: {
        acceptedOutputModes: [],
        returnImmediately: false,
        taskPushNotificationConfig: { tenant: "", id: "", taskId: "", url: receiverUrl, token: "tok-1", authentication: { scheme: "Bearer", credentials: "abc123" } },
      },
      metadata: {},
    })) as Task;
    expect(task.status?.state).toBe(TaskState.TASK_STATE_COMPLETED);
    const [delivery] = await deliveriesFor(task.id);
    expect(delivery).toBeDefined();
    expect(delivery.headers.authorization).toBe("Bearer abc123");
    expect(delivery.headers["x-a2a-notification-token"]).toBe("tok-1");
    expect(delivery.headers["x-dealscale-signature"]).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(delivery.body.task).toMatchObject({ id: task.id, status: { state: "TASK_STATE_COMPLETED" } });
    expect(delivery.body.task.artifacts[0].parts[0].data).toEqual({ echoed: { leadIds: ["x"], message: "push" }, creditsUsed: 0 });
  });

  // a2a-tck PUSH-DELIVER-001..003: a task's push configs hear of every state it waits in, then of its end.
  test("a config sent with a message that names no skill hears the task wait for input (each time it is asked), then, once the skill is named, its end", async () => {
    const client = await clientFor(binding);
    const text = (value: string, taskId = "") => ({ ...msg("unused", {}), metadata: {}, taskId, parts: [{ content: { $case: "text" as const, value }, mediaType: "", filename: "", metadata: {} }] });
    const asked = (await client.sendMessage({
      tenant: "",
      message: text("hi"),
      configuration: { acceptedOutputModes: [], returnImmediately: false, taskPushNotificationConfig: { tenant: "", id: "", taskId: "", url: receiverUrl, token: "tok-ir", authentication: { scheme: "Bearer", credentials: "ir-creds" } } },
      metadata: {},
    })) as Task;
    expect(asked.status?.state).toBe(TaskState.TASK_STATE_INPUT_REQUIRED);
    const [waiting] = await deliveriesFor(asked.id);
    expect(waiting?.headers.authorization).toBe("Bearer ir-creds");
    expect(waiting.headers["x-a2a-notification-token"]).toBe("tok-ir");
    expect(waiting.body.task).toMatchObject({ id: asked.id, status: { state: "TASK_STATE_INPUT_REQUIRED" } });
    // Each answer to the caller is an update: asked again without a skill, the config hears it again.
    await client.sendMessage({ tenant: "", message: text("still thinking", asked.id), metadata: {} } as never);
    expect((await deliveriesFor(asked.id, 2)).map((d) => d.body.task.status.state)).toEqual(["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_INPUT_REQUIRED"]);
    const done = (await client.sendMessage({ tenant: "", message: text(JSON.stringify({ skill: "noop", inputs: {} }), asked.id), metadata: {} } as never)) as Task;
    expect(done).toMatchObject({ id: asked.id, status: { state: TaskState.TASK_STATE_COMPLETED } });
    const all = await deliveriesFor(asked.id, 3);
    expect(all.map((d) => d.body.task.status.state)).toEqual(["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_COMPLETED"]);
    const events = (await t.owner.query("SELECT event, outcome FROM webhook_deliveries WHERE task_id = $1 ORDER BY id", [asked.id])).rows;
    expect(events).toEqual([
      { event: "input-required", outcome: "delivered" },
      { event: "input-required", outcome: "delivered" },
      { event: "completed", outcome: "delivered" },
    ]);
  });

  test("configs can be created for a task, read, listed and deleted; a deleted config gets nothing", async () => {
    const client = await clientFor(binding);
    const started = (await client.sendMessage({ tenant: "", message: msg("slow", { ms: 800, steps: 2 }), configuration: { acceptedOutputModes: [], returnImmediately: true, taskPushNotificationConfig: undefined }, metadata: {} })) as Task;
    const keep = await client.createTaskPushNotificationConfig({ tenant: "", id: "keep", taskId: started.id, url: receiverUrl, token: "keep-token", authentication: undefined });
    expect(keep).toMatchObject({ id: "keep", taskId: started.id, url: receiverUrl });
    const drop = await client.createTaskPushNotificationConfig({ tenant: "", id: "", taskId: started.id, url: receiverUrl + "?drop=1", token: "drop-token", authentication: undefined });
    expect(drop.id).toBeTruthy();
    const got = await client.getTaskPushNotificationConfig({ tenant: "", taskId: started.id, id: "keep" } as never);
    expect(got.token).toBe("keep-token");
    const listed = await client.listTaskPushNotificationConfig({ tenant: "", taskId: started.id, pageSize: 10, pageToken: "" } as never);
    expect(listed.configs.map((c) => c.id).sort()).toEqual(["keep", drop.id].sort());
    await client.deleteTaskPushNotificationConfig({ tenant: "", taskId: started.id, id: drop.id } as never);

    const deliveries = await deliveriesFor(started.id, 1);
    await sleep(500); // a deleted config would have been delivered by now too
    const all = received.filter((r) => r.body?.task?.id === started.id);
    expect(deliveries.length).toBeGreaterThanOrEqual(1);
    expect(all.map((r) => r.headers["x-a2a-notification-token"])).toEqual(["keep-token"]);
  });
});

test("a push config aimed at a private address is refused when the policy does not allow it", async () => {
  const strict = await startTestStack();
  try {
    const tok = strict.token(await strict.tenant(10));
    const res = await fetch(`${strict.url}/agents/${A}/a2a/jsonrpc`, {
      method: "POST",
      headers: { authorization: `Bearer ${tok}`, "content-type": "application/json", "A2A-Version": "1.0" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "SendMessage",
        params: {
          message: { messageId: randomUUID(), role: "ROLE_USER", parts: [{ data: {}, mediaType: "application/json" }], metadata: { skill: "noop" } },
          configuration: { taskPushNotificationConfig: { url: "http://127.0.0.1:9/hook" } },
        },
      }),
    });
    const body = (await res.json()) as any;
    expect(body.error?.message).toMatch(/refused/);
  } finally {
    await strict.close();
  }
});

test("the sweep still finds a finished task's push config whose only recorded attempt was the input-required one", async () => {
  const tenant = await t.tenant(1);
  const [task, config] = [randomUUID(), randomUUID()];
  await t.owner.query(
    `INSERT INTO tasks (id, tenant_id, agent_id, type, status, inputs, completed_at) VALUES ($1, $2, $3, 'noop', 'completed', '{}', now() - interval '1 minute')`,
    [task, tenant, A],
  );
  await t.owner.query("INSERT INTO task_push_configs (id, tenant_id, task_id, config_id, url) VALUES ($1, $2, $3, 'c', 'http://127.0.0.1:9/hook')", [config, tenant, task]);
  const candidates = async () => (await t.owner.query("SELECT task_id FROM webhook_delivery_candidates('-infinity', '00000000-0000-0000-0000-000000000000', now(), 1000)")).rows.map((r) => r.task_id);
  await t.owner.query("INSERT INTO webhook_deliveries (tenant_id, push_config_id, task_id, url, attempt, event, outcome) VALUES ($1, $2, $3, 'u', 1, 'input-required', 'delivered')", [tenant, config, task]);
  expect(await candidates()).toContain(task);
  await t.owner.query("INSERT INTO webhook_deliveries (tenant_id, push_config_id, task_id, url, attempt, event, outcome) VALUES ($1, $2, $3, 'u', 1, 'completed', 'delivered')", [tenant, config, task]);
  expect(await candidates()).not.toContain(task);
});
