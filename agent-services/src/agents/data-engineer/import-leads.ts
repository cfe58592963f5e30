/** importLeads: CSV text from the task's inputs into the tenant's leads (domain/csv-import). */
import { TaskError, type CapabilityHandler } from "../../protocol/agent-contract";
import { ImportSetupError, importLeadsCsv, type RejectedRow } from "./domain/csv-import";
import { importLeadId, leadImportSink } from "./lead-store";

interface ImportInputs {
  csv: string;
  mapping?: Record<string, string>;
  source?: string;
}

export const importLeads: CapabilityHandler = async (ctx) => {
  const inputs = ctx.inputs as unknown as ImportInputs;
  const leadIds: string[] = [];
  const rejected: RejectedRow[] = [];
  const lines = inputs.csv.split("\n").length;
  try {
    // One transaction: a failed or cancelled import leaves nothing behind; ids derived from the task
    // and the line make a retried run insert nothing twice.
    await ctx.db((tx) =>
      importLeadsCsv(inputs.csv, leadImportSink(tx, (line) => importLeadId(ctx.taskId, line)), {
        mapping: inputs.mapping ?? {},
        source: inputs.source,
        signal: ctx.signal,
        onRejected: (r) => rejected.push(r),
        onBatch: async (ids, p) => {
          leadIds.push(...ids);
          await ctx.progress(Math.min(95, (100 * (p.rows + p.rejected)) / lines), `${p.imported} leads imported`);
        },
      }),
    );
  } catch (e) {
    if (e instanceof ImportSetupError) throw new TaskError("invalid_csv", e.message, { retryable: false });
    throw e;
  }
  rejected.sort((a, b) => a.line - b.line);
  return { outputs: { imported: leadIds.length, leadIds, rejected } };
};
