/**
 * Creating a task: the envelope and the inputs checked, tenant defaults filled in, the price
 * reserved, and the row, its ledger, event and audit rows written in one statement with the
 * other creates (of any tenants) that arrived while the previous one ran.
 * Once committed, the live event goes out and `created` is emitted (the queue subscribes to it).
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import type { Capability } from "../protocol/agent-card";
import { milliToCredits } from "../protocol/credits";
import type { AgentRegistry } from "../protocol/registry";
import type { Task } from "../protocol/task";
import { withTenant } from "../store/tenant-tx";
import { requireAgent, type Caller } from "./addressing";
import type { AfterCommit } from "./after-commit";
import { auditRefusal, type AuditEventType } from "./audit";
import { ServiceError, forbidden, insufficientCredits, invalidInput, notFound } from "./errors";
import type { RedisEventBus } from "./event-bus";
import { priceTask, type PricingCounts } from "./pricing";
import { readEnvelope } from "./task-envelope";
import * as store from "./task-store";
import { readTenantSettings } from "./tenants";
import type { WarnLogger } from "../lib/logger";
import { Coalescer } from "../lib/coalescer";

export interface CreateTaskBody {
  type?: unknown;
  inputs?: unknown;
  priority?: unknown;
  idempotencyKey?: unknown;
  callbackUrl?: unknown;
  tenantId?: unknown;
  /** The design document's create fields: the agent again (it must be the one addressed), free-form metadata, an instance hint. */
  targetAgentId?: unknown;
  metadata?: unknown;
  instanceId?: unknown;
}

/** What the A2A face adds to a create: its own task id, the conversation, and the message. */
export interface A2ACreateOptions {
  taskId?: string;
  contextId?: string;
  message?: Record<string, unknown>;
  /** Leave the task unqueued: the A2A executor enqueues it once its event stream listens. */
  deferEnqueue?: boolean;
  /** The task `taskId` waits in input-required for this skill: it gets it instead of a new task being made. */
  continues?: boolean;
}

export interface CreationDeps {
  pool: Pool;
  registry: AgentRegistry;
  live: RedisEventBus;
  afterCommit: AfterCommit;
  counts: PricingCounts;
  log: WarnLogger;
}

const idempotencyConflict = () =>
  new ServiceError(409, "idempotency_conflict", "a concurrent request with the same idempotencyKey is in flight; retry it");

export class TaskCreation {
  /**
   * Group commit: creates that arrive while one create statement runs go together in the next, one
   * commit for all of them. If that statement fails (an idempotency race, one bad row), each
   * create runs again alone, so only the culprit fails.
   */
  private readonly creates: Coalescer<store.TenantCreate, store.CreateOutcome>;

  constructor(private readonly deps: CreationDeps) {
    this.creates = new Coalescer((items) => store.createTasks(deps.pool, items), { eachAloneOnError: true });
  }

  /** The create behind both faces; the A2A face passes its task id, context and message. */
  async create(caller: Caller, agentId: string, body: CreateTaskBody, a2a: A2ACreateOptions = {}): Promise<{ task: Task; created: boolean }> {
    const { registry } = this.deps;
    const card = this.availableAgent(agentId);
    const { type, inputs, priority, idempotencyKey, callbackUrl, targetAgentId, tenantId, metadata } = readEnvelope(body);
    const cap = registry.capability(agentId, type);
    if (!cap) throw notFound(`capability "${type}" of agent "${agentId}"`, { capabilities: card.capabilities.map((c) => c.name) });
    if (targetAgentId !== undefined && registry.canonicalId(targetAgentId) !== agentId) {
      throw invalidInput(`targetAgentId must name the agent addressed (${agentId} or ${card.alias})`, { errors: [{ path: "/targetAgentId", message: `must be ${card.alias}` }] });
    }
    const named = [tenantId, inputs.tenantId].filter((t) => t !== undefined);
    if (named.some((t) => t !== caller.tenantId)) {
      await this.refuse(caller, agentId, "tenant_mismatch", "request names another tenant than its token", { namedTenant: String(named.find((t) => t !== caller.tenantId)) });
      throw forbidden("the request names another tenant than its token");
    }
    await this.fillTenantDefaults(caller, cap.capability, inputs);
    const schemaIssues = cap.validateInputs(inputs);
    if (schemaIssues.length) {
      const errors = schemaIssues.map(({ path, message }) => ({ path: `/inputs${path === "/" ? "" : path}`, message }));
      // Only absent inputs: something the caller can be asked for (the A2A face does, with input-required).
      const missing = schemaIssues.every((i) => i.missing) ? { missing: schemaIssues.map((i) => i.missing) } : {};
      throw invalidInput(`inputs do not match the ${type} schema: ${errors[0].path} ${errors[0].message}`, { errors, ...missing });
    }

    const cost = await priceTask(cap.capability, inputs, caller.tenantId, this.deps.counts);
    const newTask: store.NewTask = {
      id: a2a.taskId ?? randomUUID(),
      agentId,
      type,
      priority,
      inputs,
      // A waiting task's answer was deduplicated by the task it continues.
      idempotencyKey: a2a.continues ? null : idempotencyKey,
      reservedMilli: cost,
      callingAgent: caller.agentId,
      callbackUrl,
      ip: caller.ip ?? null,
      userAgent: caller.userAgent ?? null,
      contextId: a2a.contextId ?? null,
      a2aMessage: a2a.message ?? null,
      metadata,
      continues: a2a.continues,
    };
    const outcome = await this.write(caller, newTask);
    switch (outcome.kind) {
      case "insufficient":
        throw insufficientCredits(milliToCredits(cost), milliToCredits(outcome.balance));
      case "existing":
        if (!outcome.sameRequest) {
          throw new ServiceError(409, "idempotency_key_reused", "idempotencyKey was already used for a different request", { taskId: outcome.task.id });
        }
        return { task: outcome.task, created: false };
      case "created":
        await this.deps.afterCommit.emit("created", { task: outcome.task, deferEnqueue: !!a2a.deferEnqueue });
        return { task: outcome.task, created: true };
    }
  }

  /**
   * An A2A task that waits for its caller's input: the skill (type "" until named) or inputs the
   * skill cannot run without. Created in input-required with the question it asks, the inputs so
   * far, nothing reserved and nothing queued (so no `created` event: that comes when the task gets
   * what it asked for). A resent message (same messageId) gets the same task. With `continues`, a
   * task already waiting takes the new question (its skill now named, an input still missing).
   */
  async createAwaitingInput(
    caller: Caller,
    agentId: string,
    a2a: Required<Pick<A2ACreateOptions, "taskId" | "contextId" | "message">> & Pick<A2ACreateOptions, "continues">,
    waitingFor: { type: string; inputs: Record<string, unknown>; inputRequest: Record<string, unknown> },
  ): Promise<Task> {
    this.availableAgent(agentId);
    const outcome = await this.write(caller, {
      id: a2a.taskId,
      agentId,
      type: waitingFor.type,
      priority: 5,
      inputs: waitingFor.inputs,
      idempotencyKey: a2a.continues ? null : `a2a:${String(a2a.message.messageId)}`,
      reservedMilli: 0n,
      callingAgent: caller.agentId,
      callbackUrl: null,
      ip: caller.ip ?? null,
      userAgent: caller.userAgent ?? null,
      contextId: a2a.contextId,
      a2aMessage: a2a.message,
      status: "input-required",
      inputRequest: waitingFor.inputRequest,
      continues: a2a.continues,
    });
    // Nothing is reserved, so a balance never refuses it; the narrowing keeps that a checked fact.
    if (outcome.kind === "insufficient") throw insufficientCredits(0, milliToCredits(outcome.balance));
    return outcome.task;
  }

  /** The agent's card; 503 while it is in maintenance or retired. */
  private availableAgent(agentId: string) {
    const card = requireAgent(this.deps.registry, agentId);
    if (card.status === "maintenance" || card.status === "retired") {
      throw new ServiceError(503, "agent_unavailable", `agent "${agentId}" is ${card.status}`);
    }
    return card;
  }

  /**
   * Writes a task with the creates in flight; a created task's first event goes out live. A token
   * for a tenant that does not exist (deleted, or minted by mistake) is refused and audited here.
   */
  private async write(caller: Caller, task: store.NewTask): Promise<Exclude<store.CreateOutcome, { kind: "no_tenant" }>> {
    let outcome: store.CreateOutcome;
    try {
      outcome = await this.creates.run({ tenantId: caller.tenantId, task });
    } catch (e) {
      if (e instanceof store.IdempotencyRace) throw idempotencyConflict();
      throw e;
    }
    if (outcome.kind === "no_tenant") {
      await this.refuse(caller, task.agentId, "unauthorized_access", "the token's tenant does not exist");
      throw new ServiceError(403, "unknown_tenant", "the token's tenant does not exist");
    }
    if (outcome.kind === "created") this.deps.live.publish(outcome.event).catch(() => undefined);
    return outcome;
  }

  /**
   * Omitted inputs the card takes from a tenant setting (tenantDefaults), else from the schema's
   * default; written into the inputs, so the stored task shows what it ran with.
   */
  private async fillTenantDefaults(caller: Caller, capability: Capability, inputs: Record<string, unknown>): Promise<void> {
    const missing = Object.entries(capability.tenantDefaults ?? {}).filter(([input]) => inputs[input] === undefined);
    if (!missing.length) return;
    const settings = (await withTenant(this.deps.pool, caller.tenantId, (tx) => readTenantSettings(tx))) as Record<string, unknown>;
    const properties = capability.inputSchema.properties as Record<string, { default?: unknown }>;
    for (const [input, setting] of missing) {
      if (settings[setting] === false) {
        throw invalidInput(`inputs.${input} is required: this tenant has turned off the default (${setting})`, { errors: [{ path: `/inputs/${input}`, message: `required (tenant setting ${setting} is false)` }], missing: [input] });
      }
      const value = settings[setting] ?? properties[input]?.default;
      if (value !== undefined) inputs[input] = structuredClone(value);
    }
  }

  private refuse(caller: Caller, agentId: string, eventType: AuditEventType, error: string, details?: Record<string, unknown>): Promise<void> {
    return auditRefusal(this.deps.pool, this.deps.log, caller, agentId, eventType, error, details);
  }
}
