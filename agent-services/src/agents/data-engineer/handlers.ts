/** The capability handlers of this agent, by capability name; the runtime fails the others as not implemented. */
import type { CapabilityHandler } from "../../queue/handler";
import { dedupeLeads } from "./dedupe-leads";
import { validateLeads } from "./validate-leads";
import { importLeads } from "./import-leads";

export const handlers: Record<string, CapabilityHandler> = {
  enrichLeads: (ctx) => import("./enrich-leads").then((m) => m.enrichLeads(ctx)),
  dedupeLeads,
  validateLeads,
  importLeads,
};
