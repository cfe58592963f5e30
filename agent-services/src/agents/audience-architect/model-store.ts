/** Stored lookalike models (table lookalike_models, tenant-scoped by row-level security). */
import type { TenantTx } from "../../store/tenant-tx";
import type { LookalikeModel } from "./domain/lookalike";

export interface StoredModel {
  version: string;
  model: LookalikeModel;
  metrics: Record<string, unknown>;
  createdAt: Date;
}

/** Stores a model under `version`; a second store of the same version (a retried job) keeps the first. */
export async function storeModel(tx: TenantTx, version: string, model: LookalikeModel, metrics: Record<string, unknown>): Promise<void> {
  await tx.query(
    `INSERT INTO lookalike_models (tenant_id, version, model, metrics) VALUES ($1, $2, $3, $4)
     ON CONFLICT (tenant_id, version) DO NOTHING`,
    [tx.tenantId, version, JSON.stringify(model), JSON.stringify(metrics)],
  );
}

export async function loadModel(tx: TenantTx, version: string): Promise<StoredModel | undefined> {
  const row = await tx.one<{ version: string; model: LookalikeModel; metrics: Record<string, unknown>; created_at: Date }>(
    "SELECT version, model, metrics, created_at FROM lookalike_models WHERE version = $1",
    [version],
  );
  return row && { version: row.version, model: row.model, metrics: row.metrics, createdAt: row.created_at };
}
