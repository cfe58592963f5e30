/** After-commit events: subscribers in order, promises awaited, a failing subscriber logged and never passed back. */
import { AfterCommit } from "../src/tasks/after-commit";
import type { Task } from "../src/protocol/task";

const task = { id: "00000000-0000-4000-8000-000000000001" } as Task;

function logger() {
  const warnings: Record<string, unknown>[] = [];
  return { warnings, warn: (obj: Record<string, unknown>) => void warnings.push(obj) };
}

test("every subscriber of an event is called, in registration order, and only for its event", async () => {
  const log = logger();
  const bus = new AfterCommit(log);
  const seen: string[] = [];
  bus.on("created", () => void seen.push("created 1"));
  bus.on("finished", () => void seen.push("finished"));
  bus.on("created", ({ deferEnqueue }) => void seen.push(`created 2 deferred=${deferEnqueue}`));
  await bus.emit("created", { task, deferEnqueue: true });
  expect(seen).toEqual(["created 1", "created 2 deferred=true"]);
  await bus.emit("finished", { task });
  expect(seen).toEqual(["created 1", "created 2 deferred=true", "finished"]);
});

test("emit waits for subscribers that return a promise (a create answers once its task is queued)", async () => {
  const bus = new AfterCommit(logger());
  let queued = false;
  bus.on("created", async () => {
    await new Promise((r) => setTimeout(r, 30));
    queued = true;
  });
  await bus.emit("created", { task, deferEnqueue: false });
  expect(queued).toBe(true);
});

test("a subscriber that throws or rejects is logged; the others still run and emit resolves", async () => {
  const log = logger();
  const bus = new AfterCommit(log);
  const seen: string[] = [];
  bus.on("finished", () => {
    throw new Error("metrics broke");
  });
  bus.on("finished", async () => {
    throw new Error("redis broke");
  });
  bus.on("finished", () => void seen.push("webhooks"));
  await expect(bus.emit("finished", { task })).resolves.toBeUndefined();
  expect(seen).toEqual(["webhooks"]);
  expect(log.warnings).toEqual([
    expect.objectContaining({ taskId: task.id, event: "finished", err: "metrics broke" }),
    expect.objectContaining({ taskId: task.id, event: "finished", err: "redis broke" }),
  ]);
});
