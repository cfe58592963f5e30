/**
 * The shape of an A2A 1.0 message as JSON (the proto3 JSON mapping the SDK parses), checked before
 * the SDK sees it: its parser reads every nested message as an object and every bytes field as a
 * base64 string, and answers anything else (a null part, `"raw": true`) with an internal error.
 * Only types are checked here; what a message means is the executor's business.
 */
import Ajv from "ajv";

const stringList = { type: "array", items: { type: "string" } };
const object = { type: "object" };

const part = {
  type: "object",
  properties: {
    text: { type: "string" },
    raw: { type: "string" },
    url: { type: "string" },
    filename: { type: "string" },
    mediaType: { type: "string" },
    metadata: object,
  },
};

const message = {
  type: "object",
  properties: {
    messageId: { type: "string" },
    contextId: { type: "string" },
    taskId: { type: "string" },
    role: { type: ["string", "integer"] },
    parts: { type: "array", items: part },
    metadata: object,
    extensions: stringList,
    referenceTaskIds: stringList,
  },
};

const validateMessage = new Ajv({ allErrors: false, strict: false }).compile(message);

/** Why the SDK could not read this message, or undefined when it can (or there is none to read). */
export function unreadableMessage(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (validateMessage(value)) return undefined;
  const e = validateMessage.errors?.[0];
  const where = `message${(e?.instancePath ?? "").replace(/\/(\d+)/g, "[$1]").replace(/\//g, ".")}`;
  return e?.keyword === "type" ? `${where} must be ${describe(e.params.type)}` : `${where}: ${e?.message ?? "unreadable"}`;
}

function describe(type: unknown): string {
  const names: Record<string, string> = { object: "an object", array: "a list", string: "a string", integer: "an integer" };
  return (Array.isArray(type) ? type : [type]).map((t) => names[String(t)] ?? String(t)).join(" or ");
}
