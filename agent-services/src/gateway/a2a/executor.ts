/**
 * The SDK's AgentExecutor for a DealScale agent. The task already exists when execute() runs (the
 * request handler admitted it, with credits reserved), so executing means: make sure the task's
 * bus listens, announce the task, and put it on its queue (a non-blocking call's task is queued at
 * admission, and its bus is local). A worker does the work; the bus carries its events back. Cancelling goes through the task service like a REST cancel.
 */
import { AgentEvent, type AgentExecutor, type ExecutionEventBus, type RequestContext } from "@a2a-js/sdk/server";
import type { TaskService } from "../../tasks/task-service";
import { toA2ATask } from "../../protocol/a2a-mapping";
import { isTerminal } from "../../protocol/task-states";
import { ServiceError } from "../../tasks/errors";
import { callerOf } from "./caller-context";
import { RedisTaskBus } from "./redis-bus";
import type { TaskSnapshots } from "./task-snapshots";

export class DealScaleExecutor implements AgentExecutor {
  constructor(
    private readonly agentId: string,
    private readonly service: TaskService,
    private readonly snapshots: TaskSnapshots,
  ) {}

  async execute(requestContext: RequestContext, eventBus: ExecutionEventBus): Promise<void> {
    const caller = callerOf(requestContext.context);
    if (eventBus instanceof RedisTaskBus) await eventBus.ready;
    const row = this.snapshots.row(caller.tenantId, requestContext.taskId) ?? (await this.service.getTask(caller, this.agentId, requestContext.taskId));
    eventBus.publish(AgentEvent.task(toA2ATask(row)));
    if (isTerminal(row.status)) {
      if (eventBus instanceof RedisTaskBus) eventBus.finish(row);
      return;
    }
    // A detached (non-blocking) call's task was queued at admission; nothing listens here.
    if (eventBus instanceof RedisTaskBus) await this.service.enqueue(row);
  }

  async cancelTask(taskId: string, eventBus: ExecutionEventBus): Promise<void> {
    if (!(eventBus instanceof RedisTaskBus)) throw new Error("DealScale tasks are cancelled through their Redis bus");
    try {
      await this.service.cancelTask(eventBus.caller, this.agentId, taskId, "cancelled by A2A CancelTask");
    } catch (e) {
      // Finished meanwhile (409) or gone (404): the bus reports the state the task really has.
      if (!(e instanceof ServiceError) || (e.status !== 409 && e.status !== 404)) throw e;
    }
    const row = await this.service.getTask(eventBus.caller, this.agentId, taskId);
    eventBus.finish(row);
  }
}
