/**
 * Server-sent events for one task: the current state first (or, with Last-Event-ID, every event
 * missed since), then live progress and status events, a heartbeat comment, and the end of the
 * stream on a terminal state. The task service opens the stream (TaskService.openStream: subscribed
 * before the read, so nothing falls in between); this only writes frames.
 *
 * Each event goes out as a named frame (`event: state|status|progress`) and, after it, as the
 * design document's plain frame (`data: {taskId, status, progress, metadata, timestamp}`, no event
 * name), which is what a browser's EventSource.onmessage receives. Both carry the event's id, so
 * Last-Event-ID resumes either. `?frames=named` or `?frames=plain` sends only one kind.
 */
import type { Request, Response } from "express";
import type { TaskEvent } from "../protocol/task";
import type { Caller, TaskService } from "../tasks/task-service";
import { isTerminal, type TaskState } from "../protocol/task-states";
import { invalidInput } from "../tasks/errors";
import { toView } from "../protocol/task-view";

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
  deps: { service: TaskService; heartbeatMs: number },
  caller: Caller,
  agentId: string,
  taskId: string,
): Promise<void> {
  const lastHeader = req.header("Last-Event-ID") ?? (typeof req.query.lastEventId === "string" ? req.query.lastEventId : undefined);
  const resumeFrom = lastHeader !== undefined && /^\d{1,18}$/.test(lastHeader) ? lastHeader : undefined;
  const frames = (req.query.frames ?? "both") as Frames;
  if (!FRAMES.includes(frames)) throw invalidInput(`frames must be one of ${FRAMES.join(", ")}`, { errors: [{ path: "/frames", message: `must be ${FRAMES.join(" | ")}` }] });

  let sent = 0n;
  let closed = false;
  let heartbeat: NodeJS.Timeout | undefined;
  const write = (id: string, event: string, data: Record<string, unknown>, plain: Record<string, unknown>) => {
    if (frames !== "plain") res.write(`id: ${id}\nevent: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    if (frames !== "named") res.write(`id: ${id}\ndata: ${JSON.stringify(plain)}\n\n`);
  };
  const sendEvent = (e: TaskEvent) => {
    if (closed || BigInt(e.id) <= sent) return;
    sent = BigInt(e.id);
    // Progress is reported only while a task works; a status event says its own.
    const status = e.kind === "status" ? (e.data.status as TaskState) : "working";
    const data = { taskId: e.taskId, ...e.data, at: e.createdAt };
    write(e.id, e.kind, data, plainFrame(e.kind, data, e.createdAt, status));
    if (e.kind === "status" && isTerminal(status)) close();
  };

  // Refusals (404, 503) come before any byte of the stream, as JSON errors.
  const stream = await deps.service.openStream(caller, agentId, taskId, resumeFrom, sendEvent);
  function close() {
    if (closed) return;
    closed = true;
    clearInterval(heartbeat);
    stream.close();
    res.end();
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

  if (resumeFrom) {
    sent = BigInt(resumeFrom);
    for (const e of stream.missed) sendEvent(e);
  } else {
    // The state event carries the id of the newest stored event, so a reconnect resumes after it.
    sent = BigInt(stream.lastId);
    const view = toView(stream.task);
    write(stream.lastId, "state", view as unknown as Record<string, unknown>, { ...view, timestamp: view.updatedAt });
    if (isTerminal(stream.task.status)) close();
  }
  if (closed) return;
  stream.start();
  heartbeat = setInterval(() => res.write(`: heartbeat ${Date.now()}\n\n`), deps.heartbeatMs);
}
