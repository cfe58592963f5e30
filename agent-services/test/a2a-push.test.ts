/**
 * A2A push notifications: configs registered over A2A (in SendMessage or with the config methods)
 * are stored, listed and deleted through the SDK's client, and the webhook worker delivers the
 * finished task to them as an A2A StreamResponse with the A2A authentication header and token.
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
