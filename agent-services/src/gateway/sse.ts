/**
 * Server-sent events for one task: the current state first (or, with Last-Event-ID, every event
 * missed since), then live progress and status events, a heartbeat comment, and the end of the
 * stream on a terminal state. Subscribes before reading the database so nothing falls in between.
 *
 * Each event goes out as a named frame (`event: state|status|progress`) and, after it, as the
 * design document's plain frame (`data: {taskId, status, progress, metadata, timestamp}`, no event
 * name), which is what a browser's EventSource.onmessage receives. Both carry the event's id, so
 * Last-Event-ID resumes either. `?frames=named` or `?frames=plain` sends only one kind.
 */
import type { Request, Response } from "express";
import type { Pool } from "pg";
import { withTenant } from "../store/tenant-tx";
import * as store from "../tasks/task-store";
import type { RedisEventBus } from "../tasks/event-bus";
import { isTerminal, type TaskState } from "../protocol/task-states";
import { invalidInput, notFound, unavailable } from "../tasks/errors";

const FRAMES = ["both", "named", "plain"] as const;
type Frames = (typeof FRAMES)[number];

/** The document's plain frame for an event: the task's status after it, the rest as metadata. */
function plainFrame(kind: string, data: Record<string, unknown>, timestamp: string, status: TaskState): Record<string, unknown> {
  const { taskId, progress, status: _status, at: _at, ...metadata } = data;
  return { taskId, status, progress: progress ?? null, metadata: { kind, ...metadata }, timestamp };
}

export async function streamTask(
  req: Request,
  res: Response,
  deps: { pool: Pool; events: RedisEventBus; heartbeatMs: number },
  tenantId: string,
  agentId: string,
  taskId: string,
): Promise<void> {
  const lastHeader = req.header("Last-Event-ID") ?? (typeof req.query.lastEventId === "string" ? req.query.lastEventId : undefined);
  const resumeFrom = lastHeader !== undefined && /^\d{1,18}$/.test(lastHeader) ? lastHeader : undefined;
  const frames = (req.query.frames ?? "both") as Frames;
  if (!FRAMES.includes(frames)) throw invalidInput(`frames must be one of ${FRAMES.join(", ")}`, { errors: [{ path: "/frames", message: `must be ${FRAMES.join(" | ")}` }] });

  const pending: store.TaskEvent[] = [];
  let live = false;
  let sent = 0n;
  let closed = false;
  let unsubscribe: (() => void) | undefined;
  let heartbeat: NodeJS.Timeout | undefined;

  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    unsubscribe?.();
    res.end();
  };
  const write = (id: string, event: string, data: Record<string, unknown>, plain: Record<string, unknown>) => {
    if (frames !== "plain") res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (frames !== "named") res.write(`id: ${id}\ndata: ${JSON.stringify(plain)}\n\n`);
  };
  const sendEvent = (e: store.TaskEvent) => {
    if (closed || BigInt(e.id) <= sent) return;
    sent = BigInt(e.id);
    // Progress is reported only while a task works; a status event says its own.
    const status = e.kind === "status" ? (e.data.status as TaskState) : "working";
    const data = { taskId: e.taskId, ...e.data, at: e.createdAt };
    write(e.id, e.kind, data, plainFrame(e.kind, data, e.createdAt, status));
    if (e.kind === "status" && isTerminal(status)) close();
  };

  const existing = await withTenant(deps.pool, tenantId, (tx) => store.getTask(tx, agentId, taskId));
  if (!existing) throw notFound(`task "${taskId}"`);

  try {
    unsubscribe = await deps.events.subscribe(taskId, (e) => (live ? sendEvent(e) : pending.push(e)));
  } catch (e) {
    throw unavailable("redis", e);
  }
  req.on("close", close);

  res.status(200).set({
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache, no-transform",
    Connection: "keep-alive",
    "X-Accel-Buffering": "no",
  });
  res.flushHeaders();
  res.write(`retry: 2000\n\n`);

  try {
    // Read committed: each statement sees its own snapshot. The newest event id is read before the
    // task, so the state is never older than that id; read the other way round, an event committed
    // in between was neither in the state nor sent later (its id was not above `sent`).
    const snapshot = await withTenant(deps.pool, tenantId, async (tx) => {
      const lastId = await store.lastEventId(tx, taskId);
      const missed = resumeFrom ? await store.eventsAfter(tx, taskId, resumeFrom) : [];
      return { lastId, missed, task: await store.getTask(tx, agentId, taskId) };
    });
    if (resumeFrom) {
      sent = BigInt(resumeFrom);
      for (const e of snapshot.missed) sendEvent(e);
    } else if (snapshot.task) {
      const view = store.toView(snapshot.task);
      // The state event carries the id of the newest stored event, so a reconnect resumes after it.
      sent = BigInt(snapshot.lastId);
      write(snapshot.lastId, "state", view as unknown as Record<string, unknown>, { ...view, timestamp: view.updatedAt });
      if (isTerminal(view.status)) close();
    }
  } catch (e) {
    res.write(`event: error\ndata: ${JSON.stringify({ message: (e as Error).message })}\n\n`);
    close();
    return;
  }
  if (closed) return;
  for (const e of pending.splice(0)) sendEvent(e);
  live = true;
  heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), deps.heartbeatMs);
}
