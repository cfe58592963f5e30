// The design document's "6. Error Handling Strategies, Graceful Degradation" ("A2A Protocol Best Practices for DealScale",
// ../shared/design/000_8943fd1b53eefc55.txt), copied as written below the marker; only this header,
// the import and the export at the end are added. examples/run.cjs and the test suite run it.
import { a2aClient, AllProvidersFailedError, type EnrichedLead } from "./support";

// ---- from the document, unchanged ----
async function enrichWithFallback(
  leadIds: string[],
  tenantId: string
): Promise<EnrichedLead[]> {
  const providers = ['apollo', 'clearbit', 'zoominfo'];
  
  for (const provider of providers) {
    try {
      const task = await a2aClient.createTask({
        targetAgentId: 'DataEngineer',
        type: 'enrichLeads',
        inputs: { leadIds, provider, tenantId },
      });
      
      const result = await a2aClient.waitForTask(task.taskId, {
        timeout: 30000,
      });
      
      if (result.status === 'completed') {
        return result.outputs.enrichedLeads;
      }
    } catch (error) {
      console.warn(`Provider ${provider} failed:`, error.message);
      // Continue to next provider
    }
  }
  
  // All providers failed - return partial data
  throw new AllProvidersFailedError('All enrichment providers unavailable');
}
// ---- end of the document's code ----

export { enrichWithFallback };
