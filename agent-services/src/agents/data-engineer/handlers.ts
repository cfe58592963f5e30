/**
 * The capability handlers of this agent that need no configuration, by capability name;
 * enrichLeads needs the providers' settings and is built in stack.ts (createEnrichLeadsHandler).
 */
import type { CapabilityHandler } from "../../protocol/agent-contract";
import { dedupeLeads } from "./dedupe-leads";
import { validateLeads } from "./validate-leads";
import { importLeads } from "./import-leads";

export const handlers: Record<string, CapabilityHandler> = {
  dedupeLeads,
  validateLeads,
  importLeads,
};
