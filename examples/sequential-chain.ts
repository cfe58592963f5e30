// The design document's "Pattern 1: Sequential Agent Chain" ("A2A Protocol Best Practices for DealScale",
// ../shared/design/000_8943fd1b53eefc55.txt), copied as written below the marker; only this header,
// the import and the export at the end are added. examples/run.cjs and the test suite run it.
import { a2aClient, getAllCandidateLeads, type CampaignResult } from "./support";

// ---- from the document, unchanged ----
/**
 * Linear workflow: A → B → C
 * Example: Enrich → Score → Campaign
 */
async function sequentialAgentChain(
  seedLeads: string[],
  tenantId: string
): Promise<CampaignResult> {
  // Step 1: DataEngineer enriches leads
  const enrichTask = await a2aClient.createTask({
    targetAgentId: 'DataEngineer',
    type: 'enrichLeads',
    inputs: { leadIds: seedLeads, provider: 'apollo', tenantId },
  });
  
  const enrichResult = await a2aClient.waitForTask(enrichTask.taskId);
  
  if (enrichResult.status === 'failed') {
    throw new Error('Enrichment failed');
  }
  
  // Step 2: AudienceArchitect scores leads
  const scoreTask = await a2aClient.createTask({
    targetAgentId: 'AudienceArchitect',
    type: 'scoreLookalike',
    inputs: {
      seedLeadIds: enrichResult.outputs.enrichedLeadIds,
      candidateLeadIds: await getAllCandidateLeads(tenantId),
      tenantId,
    },
  });
  
  const scoreResult = await a2aClient.waitForTask(scoreTask.taskId);
  
  // Step 3: CampaignOrchestrator launches campaign
  const campaignTask = await a2aClient.createTask({
    targetAgentId: 'CampaignOrchestrator',
    type: 'launchCampaign',
    inputs: {
      audienceLeadIds: scoreResult.outputs.topScoredLeadIds,
      campaignName: 'Q1 Tech Executives',
      channels: ['email', 'linkedin'],
      tenantId,
    },
  });
  
  return await a2aClient.waitForTask(campaignTask.taskId);
}
// ---- end of the document's code ----

export { sequentialAgentChain };
