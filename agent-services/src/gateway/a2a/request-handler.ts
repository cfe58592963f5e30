/**
 * The SDK's DefaultRequestHandler with DealScale admission in front of SendMessage: the message's
 * skill and inputs are validated and the task created (credits reserved, audited) before the SDK
 * runs the executor, so a bad request is an A2A error, not a failed phantom task. A resent message
 * (same messageId) gets the task it created the first time.
 */
import { randomUUID } from "node:crypto";
import { Message as MessageCodec, TaskState, type ListTasksRequest, type ListTasksResponse, type Message, type SendMessageRequest, type StreamResponse, type Task } from "@a2a-js/sdk";
import { DefaultRequestHandler, type PushNotificationStore, type ServerCallContext } from "@a2a-js/sdk/server";
import { RequestMalformedError, TaskNotFoundError, UnsupportedOperationError } from "@a2a-js/sdk/errors";
import type { TaskService } from "../../tasks/task-service";
import type { Task as DealScaleTask } from "../../protocol/task";
import { ServiceError } from "../../tasks/errors";
import { contextIdOf, parseSkillRequest, toA2ATask } from "../../protocol/a2a-mapping";
import { isTerminal } from "../../protocol/task-states";
import { DETACHED, callerOf, contentTypeNotSupported, toA2AError } from "./caller-context";
import type { TaskSnapshots } from "./task-snapshots";
import { ATTR, SpanKind, extractContext, withSpan } from "../../lib/tracing";

type Admission = { kind: "run" } | { kind: "done"; task: Task };

/** A skill as a task waiting for one offers it: its id, name, description and input schema. */
export interface SkillOffer {
  id: string;
  name: string;
  description: string;
  inputSchema: unknown;
}

export class DealScaleRequestHandler extends DefaultRequestHandler {
  private agentId!: string;
  private service!: TaskService;
  private snapshots!: TaskSnapshots;
  private skills!: SkillOffer[];
  /** The SDK's push-config store (its own field is private): a task answered here keeps its config too. */
  private pushConfigs?: PushNotificationStore;

  static create(
    ours: { agentId: string; service: TaskService; snapshots: TaskSnapshots; skills: SkillOffer[] },
    ...args: ConstructorParameters<typeof DefaultRequestHandler>
  ): DealScaleRequestHandler {
    const handler = new DealScaleRequestHandler(...args);
    handler.agentId = ours.agentId;
    handler.service = ours.service;
    handler.snapshots = ours.snapshots;
    handler.skills = ours.skills;
    handler.pushConfigs = args[4];
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
   * The task a message names: TaskNotFound for one this caller cannot see; UnsupportedOperation for
   * one that no longer takes messages (it runs or has ended: a DealScale task runs the one skill it
   * was given); the task itself while it waits in input-required for its skill.
   */
  private async waitingTask(taskId: string, context: ServerCallContext): Promise<DealScaleTask> {
    let task: DealScaleTask;
    try {
      task = await this.service.getTaskById(callerOf(context), taskId);
    } catch (e) {
      if (e instanceof ServiceError && e.status === 404) throw new TaskNotFoundError(`task ${taskId} not found`);
      throw toA2AError(e, context);
    }
    if (task.agentId !== this.agentId) throw new TaskNotFoundError(`task ${taskId} not found`);
    if (task.status === "input-required") return task;
    throw new UnsupportedOperationError(
      isTerminal(task.status)
        ? `task ${taskId} is ${task.status} and takes no further messages`
        : `task ${taskId} is ${task.status}; it runs the skill it was given, so send a new message without taskId to start another`,
    );
  }

  /**
   * A message that names no skill starts a task that asks for one (input-required, nothing reserved):
   * its status message lists the skills with their input schemas and the ways to name one.
   */
  private askForSkill(message: Message, context: ServerCallContext): Promise<DealScaleTask> {
    return this.createAwaiting(message, context, (taskId) => ({
      type: "",
      inputs: {},
      inputRequest: { message: `Which skill should run? ${this.howToNameASkill()}, in a message on this task (taskId ${taskId}).`, skills: this.skills },
    }));
  }

  /**
   * A skill named without inputs it cannot run without (a campaign without a template when the
   * tenant has no default): a task that asks for them (input-required), holding the inputs so far.
   */
  private askForInputs(
    message: Message,
    context: ServerCallContext,
    ask: { skill: string; inputs: Record<string, unknown>; missing: string[]; waiting?: DealScaleTask },
  ): Promise<DealScaleTask> {
    const { skill, inputs, missing } = ask;
    const inputSchema = this.skills.find((s) => s.id === skill)?.inputSchema;
    const needs = missing.map((m) => `inputs.${m}`).join(", ");
    return this.createAwaiting(message, context, (taskId) => ({
      type: skill,
      inputs,
      inputRequest: {
        message: `${skill} needs ${needs}: send ${missing.length > 1 ? "them" : "it"} in a data part {${missing.map((m) => `"${m}": ...`).join(", ")}}, or a text part holding that JSON, in a message on this task (taskId ${taskId}).`,
        skill,
        missing,
        inputSchema,
        inputs,
      },
    }), ask.waiting);
  }

  private async createAwaiting(
    message: Message,
    context: ServerCallContext,
    waitingFor: (taskId: string) => { type: string; inputs: Record<string, unknown>; inputRequest: Record<string, unknown> },
    waiting?: DealScaleTask,
  ): Promise<DealScaleTask> {
    const taskId = waiting?.id ?? randomUUID();
    const contextId = waiting ? contextIdOf(waiting) : message.contextId || randomUUID();
    try {
      return await this.service.createAwaitingInput(
        callerOf(context),
        this.agentId,
        { taskId, contextId, message: MessageCodec.toJSON({ ...message, taskId, contextId }) as Record<string, unknown>, continues: !!waiting },
        waitingFor(taskId),
      );
    } catch (e) {
      throw toA2AError(e, context);
    }
  }

  /**
   * Answers the caller with a task waiting for its input: keeps the push config the message gave (the
   * SDK, which would have, never sees this call) and announces the task to its push configs.
   */
  private async answerWaiting(task: DealScaleTask, params: SendMessageRequest, context: ServerCallContext): Promise<Admission> {
    const pushConfig = params.configuration?.taskPushNotificationConfig;
    if (pushConfig) await this.pushConfigs?.save(task.id, context, { ...structuredClone(pushConfig), taskId: task.id });
    await this.service.announceAwaitingInput(task);
    return { kind: "done", task: withHistoryLength(toA2ATask(task), params.configuration?.historyLength) };
  }

  /** The skills there are, and the ways to name one. */
  private howToNameASkill(): string {
    return `Name one of ${this.skills.map((s) => s.id).join(", ")} in a data part {"skill": "...", "inputs": {...}}, a text part holding that JSON, or message.metadata.skill with the inputs in a data part`;
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
    const waiting = message.taskId ? await this.waitingTask(message.taskId, context) : undefined;
    const request = parseSkillRequest(message, params.metadata, waiting?.type || undefined);
    if ("refusal" in request) {
      if (request.refusal === "content_type") throw contentTypeNotSupported(request.message, context);
      if (request.refusal !== "no_skill") throw new RequestMalformedError(request.message);
      // Asked again without a skill, a waiting task keeps waiting; a new message starts one that asks.
      return this.answerWaiting(waiting ?? (await this.askForSkill(message, context)), params, context);
    }
    // A task waiting for inputs of its skill keeps those it has; this message adds to them.
    const inputs = waiting && waiting.type === request.skill ? { ...waiting.inputs, ...request.inputs } : request.inputs;
    const contextId = waiting ? contextIdOf(waiting) : message.contextId || randomUUID();
    const taskId = waiting?.id ?? randomUUID();
    let result;
    try {
      // The same create span as the REST face, continuing the caller's W3C trace.
      const headers = context.state.get("headers") as Record<string, unknown> | undefined;
      const attributes = { [ATTR.agentId]: this.agentId, [ATTR.tenantId]: caller.tenantId, [ATTR.capability]: request.skill, [ATTR.taskId]: taskId };
      result = await withSpan("task.create", { kind: SpanKind.SERVER, parent: extractContext(headers), attributes }, () =>
        this.service.createTask(
          caller,
          this.agentId,
          { type: request.skill, inputs, priority: request.priority, idempotencyKey: `a2a:${message.messageId}`, tenantId: params.tenant || undefined },
          { taskId, contextId, message: MessageCodec.toJSON({ ...message, taskId, contextId }) as Record<string, unknown>, deferEnqueue: !detached, continues: !!waiting },
        ),
      );
    } catch (e) {
      const missing = missingInputs(e);
      // Inputs it cannot run without: ask for them rather than refuse (a waiting task waits on, asking anew).
      if (missing) return this.answerWaiting(await this.askForInputs(message, context, { skill: request.skill, inputs, missing, waiting }), params, context);
      throw toA2AError(e, context);
    }
    const { task: row } = result;
    if (isTerminal(row.status)) return { kind: "done", task: withHistoryLength(toA2ATask(row), params.configuration?.historyLength) };
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

/** A task answered here without the SDK, with the history the caller asked for (configuration.historyLength), as the SDK does. */
function withHistoryLength(task: Task, historyLength: number | undefined): Task {
  if (historyLength === undefined) return task;
  return { ...task, history: historyLength > 0 ? task.history.slice(-historyLength) : [] };
}

/** The inputs a refused create lacked, when absent inputs were all that was wrong with it. */
function missingInputs(e: unknown): string[] | undefined {
  if (!(e instanceof ServiceError) || e.code !== "invalid_input") return undefined;
  const missing = e.details?.missing;
  return Array.isArray(missing) && missing.length ? (missing as string[]) : undefined;
}
