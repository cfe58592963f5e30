/** The create envelope: one JSON Schema, each refusal naming its field in that field's own words. */
import { readEnvelope } from "../src/tasks/task-envelope";
import { ServiceError } from "../src/tasks/errors";

const refusal = (body: unknown) => {
  try {
    readEnvelope(body);
  } catch (e) {
    if (e instanceof ServiceError) return { status: e.status, message: e.message, path: (e.details as { errors: { path: string }[] }).errors[0].path };
    throw e;
  }
  return undefined;
};

test.each([
  [null, "/", "request body must be a JSON object"],
  [[1], "/", "request body must be a JSON object"],
  [{}, "/type", "type is required"],
  [{ type: "" }, "/type", "type is required"],
  [{ type: "x", inputs: [] }, "/inputs", "inputs must be an object"],
  [{ type: "x", priority: 1.5 }, "/priority", "priority must be an integer from 1 to 10"],
  [{ type: "x", priority: 11 }, "/priority", "priority must be an integer from 1 to 10"],
  [{ type: "x", idempotencyKey: "k".repeat(201) }, "/idempotencyKey", "idempotencyKey must be a string of 1 to 200 characters"],
  [{ type: "x", callbackUrl: "ftp://host" }, "/callbackUrl", "callbackUrl must be an http(s) URL"],
  [{ type: "x", targetAgentId: 7 }, "/targetAgentId", "targetAgentId must be a string naming the agent"],
  [{ type: "x", metadata: "tag" }, "/metadata", "metadata must be an object"],
  [{ type: "x", metadata: { blob: "x".repeat(17_000) } }, "/metadata", "metadata must serialise to at most 16384 bytes"],
  [{ type: "x", instanceId: "i".repeat(201) }, "/instanceId", "instanceId must be a string of at most 200 characters"],
])("%j is a 400 at %s", (body, path, message) => {
  expect(refusal(body)).toEqual({ status: 400, message, path });
});

test("defaults: no inputs is {}, priority 5, no key or callback; instanceId goes into metadata", () => {
  expect(readEnvelope({ type: "noop" })).toEqual({ type: "noop", inputs: {}, priority: 5, idempotencyKey: null, callbackUrl: null, targetAgentId: undefined, tenantId: undefined, metadata: undefined });
  expect(readEnvelope({ type: "noop", metadata: { a: 1 }, instanceId: "instance-2" }).metadata).toEqual({ a: 1, instanceId: "instance-2" });
});
