// The design document's "Pattern 3: Agent Collaboration (Map-Reduce)" ("A2A Protocol Best Practices for DealScale",
// ../shared/design/000_8943fd1b53eefc55.txt), copied as written below the marker; only this header,
// the import and the export at the end are added. examples/run.cjs and the test suite run it.
import { a2aClient, chunkArray, type EnrichedLead } from "./support";

// ---- from the document, unchanged ----
/**
 * Map-Reduce: Distribute work, aggregate results
 * Example: Process 10K leads across multiple agent instances
 */
async function distributedEnrichment(
  leadIds: string[],
  tenantId: string
): Promise<EnrichedLead[]> {
  const BATCH_SIZE = 500;
  const batches = chunkArray(leadIds, BATCH_SIZE);
  
  // Map: Distribute to multiple DataEngineer instances
  const tasks = batches.map((batch, index) => 
    a2aClient.createTask({
      targetAgentId: 'DataEngineer',
      instanceId: `instance-${index % 5}`, // Load balance across 5 instances
      type: 'enrichLeads',
      inputs: { leadIds: batch, provider: 'apollo', tenantId },
    })
  );
  
  // Wait for all batches
  const results = await Promise.all(
    tasks.map(t => a2aClient.waitForTask(t.taskId))
  );
  
  // Reduce: Merge results
  return results.flatMap(r => r.outputs.enrichedLeads);
}
// ---- end of the document's code ----

export { distributedEnrichment };
