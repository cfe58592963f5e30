/**
 * The SDK's TaskStore seam on our Postgres tasks table, for one agent. Our task service owns every
 * write (state, credits, audit), so save() records nothing: the SDK's view of a task is always
 * derived from the row, and load/list read through the tenant helper like every other read.
 */
import type { ListTasksRequest, ListTasksResponse, Task } from "@a2a-js/sdk";
import type { ServerCallContext, TaskStore } from "@a2a-js/sdk/server";
import type { TaskService } from "../../tasks/task-service";
import { ServiceError } from "../../tasks/errors";
import { fromA2AState, toA2ATask } from "../../protocol/a2a-mapping";
import { callerOf, toA2AError } from "./caller-context";
import type { TaskSnapshots } from "./task-snapshots";

export class PgTaskStore implements TaskStore {
  constructor(
    private readonly agentId: string,
    private readonly service: TaskService,
    private readonly snapshots: TaskSnapshots,
  ) {}

  /** Nothing to write (the row is ours); the SDK's aggregate serves its own reloads for a moment. */
  async save(task: Task, context: ServerCallContext): Promise<void> {
    this.snapshots.putTask(callerOf(context).tenantId, task);
  }

  async load(taskId: string, context: ServerCallContext): Promise<Task | undefined> {
    const caller = callerOf(context);
    const recent = this.snapshots.task(caller.tenantId, taskId);
    if (recent) return recent;
    try {
      const task = toA2ATask(await this.service.getTask(caller, this.agentId, taskId));
      this.snapshots.putTask(caller.tenantId, task);
      return task;
    } catch (e) {
      if (e instanceof ServiceError && e.status === 404) return undefined;
      throw toA2AError(e, context);
    }
  }

  async list(params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    const caller = callerOf(context);
    const wanted = params.status ? fromA2AState(params.status) : undefined; // 0 (unspecified) means no filter
    if (wanted && wanted.length === 0) return { tasks: [], nextPageToken: "", pageSize: params.pageSize ?? 0, totalSize: 0 };
    try {
      const { tasks: found, nextCursor, total } = await this.service.listTasks(caller, this.agentId, {
        statuses: wanted,
        contextId: params.contextId || undefined,
        limit: params.pageSize,
        cursor: params.pageToken || undefined,
        updatedAfter: params.statusTimestampAfter || undefined,
        withTotal: true,
      });
      const tasks = found.map((r) => {
        const t = toA2ATask(r);
        if (params.includeArtifacts !== true) t.artifacts = [];
        return t;
      });
      return { tasks, nextPageToken: nextCursor ?? "", pageSize: params.pageSize ?? tasks.length, totalSize: total ?? tasks.length };
    } catch (e) {
      throw toA2AError(e, context);
    }
  }
}
