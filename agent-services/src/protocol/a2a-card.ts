/**
 * The A2A agent card, derived from the DealScale card: skills are capabilities; input/output
 * schemas, prices, durations and SLAs travel in the DealScale capabilities extension; the bearer
 * JWT is the security scheme; JSON-RPC and HTTP+JSON are the supported interfaces. Pure code.
 */
import { AgentCard as A2ACardCodec, type AgentCard as A2ACard } from "@a2a-js/sdk";
import type { AgentCard } from "./agent-card";

export const CAPABILITIES_EXTENSION_URI = "https://dealscale.io/a2a/extensions/capabilities/v1";

/** How a message selects a skill and carries its inputs; written into the card for clients. */
export const INVOCATION_CONVENTION = {
  skill: "message.metadata.skill names the skill (a capability name); without it, one data part {\"skill\", \"inputs\"} or a text part holding that JSON",
  inputs: "exactly one data part (mediaType application/json) whose value is the capability's inputs object",
  priority: "optional message.metadata.priority, 1..10 (10 most urgent)",
  idempotency: "resending a message with the same messageId returns the task it created",
  result: "a completed task carries one artifact named 'outputs' whose data part is the capability's validated outputs",
  failure: "a failed task's status message has a text part '<code>: <message>' and a data part {code, message}",
} as const;

export function a2aPaths(agentId: string) {
  const base = `/agents/${agentId}`;
  return { card: `${base}/.well-known/agent-card.json`, jsonRpc: `${base}/a2a/jsonrpc`, rest: `${base}/a2a/rest` };
}

export function toA2ACard(card: AgentCard, baseUrl: string): A2ACard {
  const paths = a2aPaths(card.agentId);
  const root = baseUrl.replace(/\/+$/, "");
  return {
    name: card.name,
    description: card.description,
    version: card.version,
    provider: { organization: "DealScale", url: root },
    supportedInterfaces: [
      { url: root + paths.jsonRpc, protocolBinding: "JSONRPC", protocolVersion: "1.0", tenant: "" },
      { url: root + paths.rest, protocolBinding: "HTTP+JSON", protocolVersion: "1.0", tenant: "" },
    ],
    capabilities: {
      streaming: true,
      pushNotifications: true,
      extendedAgentCard: false,
      extensions: [
        {
          uri: CAPABILITIES_EXTENSION_URI,
          description: "DealScale capability contract: JSON Schemas of each skill's inputs and outputs, its price in credits, expected duration and SLA, and how a message invokes it.",
          required: false,
          params: {
            agentId: card.agentId,
            alias: card.alias,
            status: card.status,
            regions: card.regions,
            tenantAware: card.tenantAware,
            rateLimit: card.rateLimit,
            invocation: INVOCATION_CONVENTION,
            capabilities: Object.fromEntries(
              card.capabilities.map((c) => [
                c.name,
                { inputSchema: c.inputSchema, outputSchema: c.outputSchema, pricing: c.pricing, estimatedDuration: c.estimatedDuration, sla: c.sla },
              ]),
            ),
          },
        },
      ],
    },
    securitySchemes: {
      bearer: {
        scheme: {
          $case: "httpAuthSecurityScheme",
          value: { scheme: "Bearer", bearerFormat: "JWT", description: "HS256 JWT with claims {agentId, tenantId, scopes, iat, exp}; a2a:call to send and cancel, a2a:read to read" },
        },
      },
    },
    securityRequirements: [{ schemes: { bearer: { list: ["a2a:call"] } } }],
    defaultInputModes: ["application/json"],
    defaultOutputModes: ["application/json"],
    skills: card.capabilities.map((c) => ({
      id: c.name,
      name: c.title,
      description: c.description,
      tags: [card.alias, card.agentId, ...c.tags],
      examples: [],
      inputModes: ["application/json"],
      outputModes: ["application/json"],
      securityRequirements: [],
    })),
    signatures: [],
  };
}

/** The card as it travels on the wire (ProtoJSON). */
export function a2aCardJson(card: AgentCard, baseUrl: string): unknown {
  return A2ACardCodec.toJSON(toA2ACard(card, baseUrl));
}
