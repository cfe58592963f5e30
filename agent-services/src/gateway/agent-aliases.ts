/**
 * The design document's agent ids and addresses, routed to the canonical ones before any route
 * sees the request: /agents/DataEngineer/... and the document's endpoint form /data-engineer/...
 * (or /DataEngineer/...) become /agents/data-engineer/..., for the REST and the A2A faces alike.
 * The id the client used stays in res.locals, so a card can answer in the client's own terms.
 */
import type { NextFunction, Request, Response } from "express";
import type { AgentRegistry } from "../protocol/registry";

export const REQUESTED_AGENT_ID = "requestedAgentId";

export function agentAliases(registry: AgentRegistry) {
  return (req: Request, res: Response, next: NextFunction) => {
    const m = /^\/(agents\/)?([^/?#]+)([/?#].*)?$/.exec(req.url);
    if (m && (m[1] || m[2] !== "agents")) {
      let requested: string;
      try {
        requested = decodeURIComponent(m[2]);
      } catch {
        return next();
      }
      const agentId = registry.canonicalId(requested);
      if (agentId) {
        res.locals[REQUESTED_AGENT_ID] = requested;
        req.url = `/agents/${agentId}${m[3] ?? ""}`;
      }
    }
    next();
  };
}
