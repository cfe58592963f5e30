/**
 * The SDK's DefaultRequestHandler with DealScale admission in front of SendMessage: the message's
 * skill and inputs are validated and the task created (credits reserved, audited) before the SDK
 * runs the executor, so a bad request is an A2A error, not a failed phantom task. A resent message
 * (same messageId) gets the task it created the first time.
 */
import { randomUUID } from "node:crypto";
import { Message as MessageCodec, TaskState, type ListTasksRequest, type ListTasksResponse, type Message, type SendMessageRequest, type StreamResponse, type Task } from "@a2a-js/sdk";
import { DefaultRequestHandler, type ServerCallContext } from "@a2a-js/sdk/server";
import { RequestMalformedError, TaskNotFoundError, UnsupportedOperationError } from "@a2a-js/sdk/errors";
import type { TaskService } from "../../tasks/task-service";
import { ServiceError } from "../../tasks/errors";
import { contextIdOf, parseSkillRequest, toA2ATask } from "../../protocol/a2a-mapping";
import { isTerminal } from "../../protocol/task-states";
import { DETACHED, callerOf, contentTypeNotSupported, toA2AError } from "./caller-context";
import type { TaskSnapshots } from "./task-snapshots";
import { ATTR, SpanKind, extractContext, withSpan } from "../../lib/tracing";

type Admission = { kind: "run" } | { kind: "done"; task: Task };

export class DealScaleRequestHandler extends DefaultRequestHandler {
  private agentId!: string;
  private service!: TaskService;
  private snapshots!: TaskSnapshots;
  private skills!: string[];

  static create(
    ours: { agentId: string; service: TaskService; snapshots: TaskSnapshots; skills: string[] },
    ...args: ConstructorParameters<typeof DefaultRequestHandler>
  ): DealScaleRequestHandler {
    const handler = new DealScaleRequestHandler(...args);
    handler.agentId = ours.agentId;
    handler.service = ours.service;
    handler.snapshots = ours.snapshots;
    handler.skills = ours.skills;
    return handler;
  }

  /**
   * A non-blocking send (returnImmediately) answers with the submitted task and is done: its task is
   * queued at admission, and its bus is local (no Redis subscription, no re-read when the task ends),
   * since nothing of this call follows the task; GetTask and SubscribeToTask read it afresh.
   */
  override async sendMessage(params: SendMessageRequest, context: ServerCallContext): Promise<Message | Task> {
    const detached = params.configuration?.returnImmediately === true;
    const admission = await this.admit(params, context, detached);
    if (admission.kind === "done") return admission.task;
    if (!detached) return super.sendMessage(params, context);
    context.state.set(DETACHED, true);
    try {
      return await super.sendMessage(params, context);
    } finally {
      // Its snapshot would soon be stale: the task runs without this process hearing of it.
      this.snapshots.forget(callerOf(context).tenantId, params.message!.taskId);
    }
  }

  override async *sendMessageStream(params: SendMessageRequest, context: ServerCallContext): AsyncGenerator<StreamResponse, void, undefined> {
    const admission = await this.admit(params, context);
    if (admission.kind === "done") {
      yield { payload: { $case: "task", value: admission.task } };
      return;
    }
    yield* super.sendMessageStream(params, context);
  }

  /**
   * A message naming an existing task: TaskNotFound for a task this caller cannot see; for one it
   * can, UnsupportedOperation, since a DealScale task takes the one message that started it.
   */
  private async refuseFollowUp(taskId: string, context: ServerCallContext): Promise<never> {
    const caller = callerOf(context);
    let task;
    try {
      task = await this.service.getTaskById(caller, taskId);
    } catch (e) {
      if (e instanceof ServiceError && e.status === 404) throw new TaskNotFoundError(`task ${taskId} not found`);
      throw toA2AError(e, context);
    }
    throw new UnsupportedOperationError(
      isTerminal(task.status)
        ? `task ${taskId} is ${task.status} and takes no further messages`
        : `task ${taskId} is ${task.status}; a DealScale task takes the one message that started it, so send a new message without taskId to start another`,
    );
  }

  /** What a message without a skill is told: the skills there are, and the ways to name one. */
  private howToNameASkill(): string {
    const skills = this.skills.join(", ");
    return `name one of ${skills} in a data part {"skill": "...", "inputs": {...}}, a text part holding that JSON, or message.metadata.skill with the inputs in a data part`;
  }

  /**
   * The SDK's own JSON-RPC client sends an absent status filter as UNRECOGNIZED (-1), which its
   * server then refuses; read it as what the client meant, no filter.
   */
  override listTasks(params: ListTasksRequest, context: ServerCallContext): Promise<ListTasksResponse> {
    if (params.status !== TaskState.UNRECOGNIZED) return super.listTasks(params, context);
    const { status: _unrecognized, ...unfiltered } = params;
    return super.listTasks(unfiltered as ListTasksRequest, context);
  }

  /** Creates the task the message asks for and points the message at it. */
  private async admit(params: SendMessageRequest, context: ServerCallContext, detached = false): Promise<Admission> {
    const caller = callerOf(context);
    const message = params.message;
    if (!message?.messageId) throw new RequestMalformedError("message.messageId is required");
    if (message.taskId) await this.refuseFollowUp(message.taskId, context);
    const request = parseSkillRequest(message, params.metadata);
    if ("refusal" in request) {
      if (request.refusal === "content_type") throw contentTypeNotSupported(request.message, context);
      if (request.refusal === "no_skill") throw new RequestMalformedError(`${request.message}: ${this.howToNameASkill()}`);
      throw new RequestMalformedError(request.message);
    }
    const contextId = message.contextId || randomUUID();
    const taskId = randomUUID();
    let result;
    try {
      // The same create span as the REST face, continuing the caller's W3C trace.
      const headers = context.state.get("headers") as Record<string, unknown> | undefined;
      const attributes = { [ATTR.agentId]: this.agentId, [ATTR.tenantId]: caller.tenantId, [ATTR.capability]: request.skill, [ATTR.taskId]: taskId };
      result = await withSpan("task.create", { kind: SpanKind.SERVER, parent: extractContext(headers), attributes }, () =>
        this.service.createTask(
          caller,
          this.agentId,
          { type: request.skill, inputs: request.inputs, priority: request.priority, idempotencyKey: `a2a:${message.messageId}`, tenantId: params.tenant || undefined },
          { taskId, contextId, message: MessageCodec.toJSON({ ...message, taskId, contextId }) as Record<string, unknown>, deferEnqueue: !detached },
        ),
      );
    } catch (e) {
      throw toA2AError(e, context);
    }
    const { task: row } = result;
    if (isTerminal(row.status)) return { kind: "done", task: toA2ATask(row) };
    // A resent non-blocking message: make sure its task is queued (idempotent by job id).
    if (detached && !result.created && row.status === "submitted") await this.service.enqueue(row);
    // The SDK loads the task next and the executor needs the row: both from here, not Postgres.
    this.snapshots.putRow(caller.tenantId, row);
    this.snapshots.putTask(caller.tenantId, toA2ATask(row));
    message.taskId = row.id;
    message.contextId = contextIdOf(row);
    return { kind: "run" };
  }
}
