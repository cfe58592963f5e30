/**
 * `leads:import` for the operator CLI: streams a CSV file into a tenant's leads in one transaction
 * (as the owner, through withTenant), reports rejected rows on stderr with their line numbers and
 * prints {"imported": N, "leadIds": [...]} on stdout, the ids in file order. The ids are kept as 16
 * bytes each and the JSON is written in chunks, so a million rows need neither the file nor a giant
 * string in memory.
 */
import { createReadStream } from "node:fs";
import type { Writable } from "node:stream";
import type { Pool } from "pg";
import { withTenant } from "../../store/tenant-tx";
import { importLeadsCsv } from "./domain/csv-import";
import { bulkLoadAccess, leadImportSink, timeOrderedId } from "./lead-store";

class IdList {
  private buf = Buffer.alloc(16 * 1024);
  length = 0;
  push(id: string): void {
    if ((this.length + 1) * 16 > this.buf.length) {
      const bigger = Buffer.alloc(this.buf.length * 2);
      this.buf.copy(bigger);
      this.buf = bigger;
    }
    this.buf.write(id.replace(/-/g, ""), this.length * 16, "hex");
    this.length++;
  }
  at(i: number): string {
    const x = this.buf.toString("hex", i * 16, i * 16 + 16);
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }
}

function write(out: Writable, chunk: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Resolved once the chunk is handed to the OS, so process.exit afterwards cannot cut the output.
    out.write(chunk, (e) => (e ? reject(e) : resolve()));
  });
}

/** Whether the file has a quote character anywhere (one sequential read, far cheaper than parsing it). */
async function hasQuote(file: string): Promise<boolean> {
  for await (const chunk of createReadStream(file)) if ((chunk as Buffer).includes(0x22)) return true;
  return false;
}

export async function importLeadsFromFile(
  pool: Pool,
  tenantId: string,
  file: string,
  mapping: Record<string, string>,
  io: { stdout: Writable; stderr: Writable },
): Promise<{ imported: number; rejected: number }> {
  const ids = new IdList();
  const summary = await withTenant(pool, tenantId, async (tx) => {
    const access = await bulkLoadAccess(tx);
    if (!access) throw new Error(`tenant ${tenantId} not found`);
    return importLeadsCsv(createReadStream(file), leadImportSink(tx, timeOrderedId, access), {
      mapping,
      plain: !(await hasQuote(file)),
      batchSize: 5000,
      onRejected: (r) => io.stderr.write(`line ${r.line}: ${r.reason}\n`),
      onBatch: (batch) => {
        for (const id of batch) ids.push(id);
      },
    });
  });
  await write(io.stdout, `{"imported":${ids.length},"leadIds":[`);
  const CHUNK = 10_000;
  for (let i = 0; i < ids.length; i += CHUNK) {
    const part: string[] = [];
    for (let j = i; j < Math.min(ids.length, i + CHUNK); j++) part.push(`"${ids.at(j)}"`);
    await write(io.stdout, (i ? "," : "") + part.join(","));
  }
  await write(io.stdout, "]}\n");
  return { imported: summary.imported, rejected: summary.rejected };
}
