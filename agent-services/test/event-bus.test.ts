/** The live wire: a finish's message carries its final state, unless that would make it too large. */
import { randomUUID } from "node:crypto";
import { RedisEventBus } from "../src/tasks/event-bus";
import type { TaskEvent } from "../src/protocol/task";

const bus = new RedisEventBus(process.env.REDIS_URL || "redis://127.0.0.1:6379");
afterAll(() => bus.close());

function finished(taskId: string, outputs: Record<string, unknown>): TaskEvent {
  const at = new Date().toISOString();
  return {
    id: "7",
    taskId,
    kind: "status",
    data: { status: "completed", progress: 100 },
    createdAt: at,
    final: { status: "completed", outputs, error: null, progress: 100, creditsUsedMilli: "1500", updatedAt: at, completedAt: at },
  };
}

async function roundTrip(event: TaskEvent): Promise<TaskEvent> {
  let resolve!: (e: TaskEvent) => void;
  const got = new Promise<TaskEvent>((r) => (resolve = r));
  const unsubscribe = await bus.subscribe(event.taskId, resolve);
  try {
    await bus.publish(event);
    return await got;
  } finally {
    unsubscribe();
  }
}

test("a finish's final state travels with its event", async () => {
  const sent = finished(randomUUID(), { scored: 3 });
  expect(await roundTrip(sent)).toEqual(sent);
});

test("outputs too large for the wire leave the final state behind; the event itself still goes", async () => {
  const sent = finished(randomUUID(), { blob: "x".repeat(300 * 1024) });
  const got = await roundTrip(sent);
  expect(got.final).toBeUndefined();
  expect(got).toEqual({ ...sent, final: undefined });
});
