/**
 * The agent registry: the DealScale cards, their capabilities and compiled input/output validators.
 * Built once from the cards; schema errors come back with the JSON path of the offending value.
 */
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";
import addFormats from "ajv-formats";
import { agentKey, checkCard, completeCard, durationToMs, type AgentCard, type AgentCardSource, type Capability } from "./agent-card";

export interface SchemaIssue {
  path: string;
  message: string;
  /** A required top-level property that is absent: something a caller can be asked for. */
  missing?: string;
}

export interface RegisteredCapability {
  agentId: string;
  capability: Capability;
  slaMs: number;
  validateInputs(value: unknown): SchemaIssue[];
  validateOutputs(value: unknown): SchemaIssue[];
}

export class AgentRegistry {
  private readonly cards = new Map<string, AgentCard>();
  /** agentKey of the agentId (and so of the alias) -> agentId. */
  private readonly ids = new Map<string, string>();
  private readonly capabilities = new Map<string, RegisteredCapability>();
  private readonly ajv: Ajv;

  constructor(cards: AgentCardSource[]) {
    this.ajv = new Ajv({ allErrors: true, strict: false, useDefaults: false });
    addFormats(this.ajv);
    for (const card of cards) this.add(card);
  }

  add(source: AgentCardSource): void {
    const card = completeCard(source);
    const problems = checkCard(card);
    if (problems.length) throw new Error(`agent card ${card.agentId} is invalid:\n  ${problems.join("\n  ")}`);
    if (this.cards.has(card.agentId)) throw new Error(`agent ${card.agentId} registered twice`);
    this.cards.set(card.agentId, card);
    this.ids.set(agentKey(card.agentId), card.agentId);
    for (const capability of card.capabilities) {
      const input = this.ajv.compile(capability.inputSchema);
      const output = this.ajv.compile(capability.outputSchema);
      this.capabilities.set(key(card.agentId, capability.name), {
        agentId: card.agentId,
        capability,
        slaMs: durationToMs(capability.sla.maxLatency),
        validateInputs: (v) => issues(input, v),
        validateOutputs: (v) => issues(output, v),
      });
    }
  }

  list(): AgentCard[] {
    return [...this.cards.values()];
  }

  /** The canonical agentId for an agentId or an alias in any case (DataEngineer -> data-engineer). */
  canonicalId(id: string): string | undefined {
    return this.ids.get(agentKey(id));
  }

  card(agentId: string): AgentCard | undefined {
    return this.cards.get(agentId);
  }

  capability(agentId: string, name: string): RegisteredCapability | undefined {
    return this.capabilities.get(key(agentId, name));
  }
}

const key = (agentId: string, name: string) => `${agentId}\u0000${name}`;

function issues(validate: ValidateFunction, value: unknown): SchemaIssue[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map(describe);
}

function describe(e: ErrorObject): SchemaIssue {
  let path = e.instancePath || "/";
  if (e.keyword === "required") {
    const name = (e.params as { missingProperty: string }).missingProperty;
    path = `${e.instancePath}/${name}`;
    if (!e.instancePath) return { path, message: e.message ?? e.keyword, missing: name };
  }
  if (e.keyword === "additionalProperties") {
    path = `${e.instancePath}/${(e.params as { additionalProperty: string }).additionalProperty}`;
  }
  return { path, message: e.message ?? e.keyword };
}
