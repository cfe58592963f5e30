/**
 * The SDK's event-bus seam on our Redis task events. A task's bus listens to its Redis channel, so
 * whichever worker runs the task and whichever gateway replica the client is on, status changes
 * reach the stream: working and progress become status updates; a terminal state becomes the
 * outputs artifact (when completed) and the final status, from what the finish's message carries
 * (or read from Postgres, when its outputs were too large to travel with it). The manager owns
 * settling: a bus ends when its task does, not when the executor returns (which is right after the
 * task is queued). A watchdog re-reads the row, so a lost pub/sub message cannot hang a stream.
 */
import { AgentEvent, DefaultExecutionEventBus, type ExecutionEventBus, type ExecutionEventBusManager, type ServerCallContext } from "@a2a-js/sdk/server";
import { Role, TaskState } from "@a2a-js/sdk";
import type { RedisEventBus } from "../../tasks/event-bus";
import { withFinalState, type Task, type TaskEvent } from "../../protocol/task";
import type { Caller, TaskService } from "../../tasks/task-service";
import { ServiceError } from "../../tasks/errors";
import { isTerminal, type TaskState as OurState } from "../../protocol/task-states";
import { completedArtifacts, contextIdOf, statusOf, taskMetadata } from "../../protocol/a2a-mapping";
import { callerOf, isDetached } from "./caller-context";
import type { TaskSnapshots } from "./task-snapshots";

const TERMINAL_A2A = new Set<number>([TaskState.TASK_STATE_COMPLETED, TaskState.TASK_STATE_FAILED, TaskState.TASK_STATE_CANCELED, TaskState.TASK_STATE_REJECTED]);

export interface BusDeps {
  agentId: string;
  service: TaskService;
  events: RedisEventBus;
  snapshots: TaskSnapshots;
  watchdogMs: number;
}

export class RedisTaskBus extends DefaultExecutionEventBus {
  /** Resolves once the Redis subscription is confirmed: nothing published after it is missed. */
  readonly ready: Promise<void>;
  private unsubscribe: (() => void) | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    readonly taskId: string,
    readonly caller: Caller,
    private readonly deps: BusDeps,
    private readonly onEnd: () => void,
  ) {
    super();
    this.ready = this.deps.events.subscribe(taskId, (e) => void this.onTaskEvent(e)).then(
      (unsubscribe) => {
        if (this.ended) unsubscribe();
        else this.unsubscribe = unsubscribe;
      },
      () => undefined, // Redis down: the watchdog still follows the task in Postgres.
    );
    this.watchdog = setInterval(() => void this.check(), deps.watchdogMs);
    this.watchdog.unref();
  }

  /** Ends the stream with the task's final state (idempotent). */
  finish(row: Task): void {
    if (this.ended) return;
    if (row.status === "completed" && row.outputs) {
      for (const artifact of completedArtifacts(row.outputs)) {
        this.publish(AgentEvent.artifactUpdate({ taskId: row.id, contextId: contextIdOf(row), artifact, append: false, lastChunk: true, metadata: {} }));
      }
    }
    this.publish(AgentEvent.statusUpdate({ taskId: row.id, contextId: contextIdOf(row), status: statusOf(row), metadata: taskMetadata(row) }));
    this.end();
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.watchdog);
    this.unsubscribe?.();
    this.finished();
    this.onEnd();
  }

  private async onTaskEvent(e: TaskEvent): Promise<void> {
    if (this.ended) return;
    const status = e.data.status as OurState | undefined;
    if (e.kind === "status" && status && isTerminal(status)) {
      // The finish's message carries what it changed: with the task as admitted, that is the end state.
      const before = e.final ? await this.row().catch(() => undefined) : undefined;
      if (before && e.final) this.finish(withFinalState(before, e.final));
      else await this.check();
      return;
    }
    if (e.kind === "status" && status !== "working") return;
    const progress = typeof e.data.progress === "number" ? e.data.progress : undefined;
    const text = typeof e.data.message === "string" ? e.data.message : progress !== undefined && e.kind === "progress" ? `${progress}%` : undefined;
    const contextId = (await this.row())?.contextId ?? this.taskId;
    this.publish(
      AgentEvent.statusUpdate({
        taskId: this.taskId,
        contextId,
        status: {
          state: TaskState.TASK_STATE_WORKING,
          message: text
            ? { messageId: `${this.taskId}:${e.id}`, contextId, taskId: this.taskId, role: Role.ROLE_AGENT, parts: [{ content: { $case: "text", value: text }, mediaType: "text/plain", filename: "", metadata: {} }], metadata: {}, extensions: [], referenceTaskIds: [] }
            : undefined,
          timestamp: e.createdAt,
        },
        metadata: progress !== undefined ? { dealscale: { progress } } : {},
      }),
    );
  }

  private cachedRow: Task | undefined;

  private async row(): Promise<Task | undefined> {
    if (this.cachedRow) return this.cachedRow;
    this.cachedRow = this.deps.snapshots.row(this.caller.tenantId, this.taskId);
    if (this.cachedRow) return this.cachedRow;
    try {
      this.cachedRow = await this.deps.service.getTask(this.caller, this.deps.agentId, this.taskId);
    } catch (e) {
      if (!(e instanceof ServiceError && e.status === 404)) throw e;
    }
    return this.cachedRow;
  }

  /** Reads the row afresh; ends the stream if the task is finished, or unknown to this caller. */
  private async check(): Promise<void> {
    if (this.ended) return;
    let row: Task | undefined;
    try {
      row = await this.deps.service.getTask(this.caller, this.deps.agentId, this.taskId);
    } catch (e) {
      if (!(e instanceof ServiceError && e.status === 404)) return; // Postgres down: try again at the next tick.
    }
    this.cachedRow = row;
    if (!row) this.end();
    else if (isTerminal(row.status)) this.finish(row);
  }
}

export class RedisBusManager implements ExecutionEventBusManager {
  private readonly buses = new Map<string, RedisTaskBus>();

  constructor(private readonly deps: BusDeps) {}

  createOrGetByTaskId(taskId: string, context?: ServerCallContext): ExecutionEventBus {
    // A detached call's bus carries only the submitted task; the SDK settles it when the executor returns.
    if (isDetached(context)) return new DefaultExecutionEventBus();
    return this.buses.get(taskId) ?? this.open(taskId, context);
  }

  /** Any replica can follow any task: with no local bus, open one on the task's Redis channel. */
  getByTaskId(taskId: string, context?: ServerCallContext): ExecutionEventBus | undefined {
    return this.buses.get(taskId) ?? this.open(taskId, context);
  }

  cleanupByTaskId(taskId: string): void {
    const bus = this.buses.get(taskId);
    this.buses.delete(taskId);
    bus?.end();
  }

  /** We settle buses ourselves when their task ends, unless it already has. */
  settleByTaskId(_taskId: string, bus: ExecutionEventBus, lastState: number | undefined): boolean {
    if (!(bus instanceof RedisTaskBus)) return false;
    return !(lastState !== undefined && TERMINAL_A2A.has(lastState));
  }

  get size(): number {
    return this.buses.size;
  }

  private open(taskId: string, context?: ServerCallContext): RedisTaskBus {
    const bus = new RedisTaskBus(taskId, callerOf(context), this.deps, () => {
      if (this.buses.get(taskId) === bus) this.buses.delete(taskId);
    });
    this.buses.set(taskId, bus);
    return bus;
  }
}
