/**
 * What a task reserves before it runs. The price list is the card's (protocol/agent-card.ts); a
 * whole-tenant run (its per-lead list omitted) is priced on counts asked of whoever holds the data.
 */
import { estimateCostMilli, needsTenantLeadCount, type Capability } from "../protocol/agent-card";

/** Counts a price depends on, given by stack.ts (the leads live with the agents, not here). */
export interface PricingCounts {
  tenantLeads(tenantId: string): Promise<number>;
}

export async function priceTask(capability: Capability, inputs: Record<string, unknown>, tenantId: string, counts: PricingCounts): Promise<bigint> {
  const tenantLeads = needsTenantLeadCount(capability, inputs) ? await counts.tenantLeads(tenantId) : undefined;
  return estimateCostMilli(capability, inputs, tenantLeads);
}
