// The design document's "Pattern 2: Parallel Agent Execution" ("A2A Protocol Best Practices for DealScale",
// ../shared/design/000_8943fd1b53eefc55.txt), copied as written below the marker; only this header,
// the import and the export at the end are added. examples/run.cjs and the test suite run it.
import { a2aClient, mergeEnrichedData, type EnrichedLead } from "./support";

// ---- from the document, unchanged ----
/**
 * Parallel workflow: A → (B1 || B2 || B3) → C
 * Example: Enrich → (Apollo || Clearbit || ZoomInfo) → Merge
 */
async function parallelEnrichment(
  leadIds: string[],
  tenantId: string
): Promise<EnrichedLead[]> {
  // Step 1: Create tasks for all providers in parallel
  const tasks = await Promise.all([
    a2aClient.createTask({
      targetAgentId: 'DataEngineer',
      type: 'enrichLeads',
      inputs: { leadIds, provider: 'apollo', tenantId },
    }),
    a2aClient.createTask({
      targetAgentId: 'DataEngineer',
      type: 'enrichLeads',
      inputs: { leadIds, provider: 'clearbit', tenantId },
    }),
    a2aClient.createTask({
      targetAgentId: 'DataEngineer',
      type: 'enrichLeads',
      inputs: { leadIds, provider: 'zoominfo', tenantId },
    }),
  ]);
  
  // Step 2: Wait for all to complete (with timeout)
  const results = await Promise.allSettled(
    tasks.map(t => a2aClient.waitForTask(t.taskId, { timeout: 60000 }))
  );
  
  // Step 3: Merge results (best-effort)
  const enrichedData = results
    .filter(r => r.status === 'fulfilled')
    .map(r => r.value.outputs);
  
  return mergeEnrichedData(enrichedData);
}
// ---- end of the document's code ----

export { parallelEnrichment };
