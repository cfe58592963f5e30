/**
 * The envelope of a create (everything but the capability's own inputs), checked against one JSON
 * Schema. A refusal is a 400 naming the first offending field, in the words each field has always
 * had; the inputs are checked afterwards against the capability's schema.
 */
import Ajv from "ajv";
import { invalidInput } from "./errors";

/** Largest metadata object a task carries, serialised. */
export const MAX_METADATA_BYTES = 16 * 1024;

const SCHEMA = {
  type: "object",
  required: ["type"],
  properties: {
    type: { type: "string", minLength: 1 },
    inputs: { type: "object" },
    priority: { type: "integer", minimum: 1, maximum: 10 },
    idempotencyKey: { type: "string", minLength: 1, maxLength: 200 },
    callbackUrl: { type: "string", pattern: "^https?://" },
    targetAgentId: { type: "string" },
    metadata: { type: "object" },
    instanceId: { type: "string", maxLength: 200 },
    tenantId: {},
  },
} as const;

/** What a refusal of each field says: the message and the detail at its path. */
const REFUSALS: Record<string, [string, string]> = {
  "/": ["request body must be a JSON object", "must be object"],
  "/type": ["type is required", "must be a capability name"],
  "/inputs": ["inputs must be an object", "must be object"],
  "/priority": ["priority must be an integer from 1 to 10", "must be integer 1..10"],
  "/idempotencyKey": ["idempotencyKey must be a string of 1 to 200 characters", "must be string(1..200)"],
  "/callbackUrl": ["callbackUrl must be an http(s) URL", "must be http(s) URL"],
  "/targetAgentId": ["targetAgentId must be a string naming the agent", "must be string"],
  "/metadata": ["metadata must be an object", "must be object"],
  "/instanceId": ["instanceId must be a string of at most 200 characters", "must be string(..200)"],
};

const check = new Ajv({ allErrors: false, strict: false }).compile(SCHEMA);

export interface TaskEnvelope {
  type: string;
  inputs: Record<string, unknown>;
  priority: number;
  idempotencyKey: string | null;
  callbackUrl: string | null;
  targetAgentId?: string;
  tenantId?: unknown;
  /** The create's metadata with the document's instanceId in it (kept, not obeyed: the queue spreads tasks itself). */
  metadata?: Record<string, unknown>;
}

export function readEnvelope(body: unknown): TaskEnvelope {
  // JSON Schema's "object" is neither an array nor null.
  if (!check(body)) {
    const e = check.errors?.[0];
    const path = !e ? "/" : e.keyword === "required" ? `/${(e.params as { missingProperty: string }).missingProperty}` : e.instancePath || "/";
    const [message, detail] = REFUSALS[path] ?? REFUSALS["/"];
    throw invalidInput(message, { errors: [{ path, message: detail }] });
  }
  const b = body as Record<string, unknown> & { type: string };
  const instanceId = b.instanceId as string | undefined;
  const metadata = instanceId === undefined ? (b.metadata as Record<string, unknown> | undefined) : { ...(b.metadata as Record<string, unknown>), instanceId };
  if (metadata && Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
    throw invalidInput(`metadata must serialise to at most ${MAX_METADATA_BYTES} bytes`, { errors: [{ path: "/metadata", message: "too large" }] });
  }
  return {
    type: b.type,
    inputs: (b.inputs as Record<string, unknown> | undefined) ?? {},
    priority: (b.priority as number | undefined) ?? 5,
    idempotencyKey: (b.idempotencyKey as string | undefined) ?? null,
    callbackUrl: (b.callbackUrl as string | undefined) ?? null,
    targetAgentId: b.targetAgentId as string | undefined,
    tenantId: b.tenantId,
    metadata,
  };
}
