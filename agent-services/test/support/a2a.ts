/** The SDK's own A2A client, pointed at a test gateway with a bearer token, and the message convention. */
import { randomUUID } from "node:crypto";
import { ClientFactory, ClientFactoryOptions, JsonRpcTransportFactory, RestTransportFactory, type Client } from "@a2a-js/sdk/client";
import { Role, type Message } from "@a2a-js/sdk";

export type Binding = "JSONRPC" | "HTTP+JSON";

export function a2aClient(baseUrl: string, agentId: string, token: string, binding: Binding): Promise<Client> {
  const authFetch: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set("authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  };
  const factory = new ClientFactory(
    ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
      transports: [new JsonRpcTransportFactory({ fetchImpl: authFetch }), new RestTransportFactory({ fetchImpl: authFetch })],
      preferredTransports: [binding],
    }),
  );
  // The trailing slash keeps the agent's path when the resolver appends the well-known card path.
  return factory.createFromUrl(`${baseUrl}/agents/${agentId}/`);
}

/** A user message invoking `skill` with `inputs` as its one data part. */
export function skillMessage(skill: string, inputs: Record<string, unknown>, extra: Partial<Message> = {}): Message {
  return {
    messageId: randomUUID(),
    contextId: "",
    taskId: "",
    role: Role.ROLE_USER,
    parts: [{ content: { $case: "data", value: inputs }, mediaType: "application/json", filename: "", metadata: {} }],
    metadata: { skill },
    extensions: [],
    referenceTaskIds: [],
    ...extra,
  };
}
