/**
 * Per-task push-notification configs (the A2A `tasks/pushNotificationConfig/*` methods). Every
 * function takes a TenantTx, so row-level security scopes it to the caller's tenant. A config gets
 * its own signing secret at creation: deliveries to it are signed with that secret (see
 * signing.ts), and the A2A `token` / `authentication` travel as headers the A2A spec names.
 *
 * Check the URL with WebhookService.validateUrl (the URL policy) before calling createPushConfig;
 * deliveries check it again after DNS resolution.
 */
import { randomUUID } from "node:crypto";
import type { Pool } from "pg";
import { withTenant, type TenantTx } from "../store/tenant-tx";
import { isUuid } from "../lib/uuid";
import { newSecret } from "./signing";

export type PushFormat = "dealscale" | "a2a";

export interface PushAuthentication {
  schemes: string[];
  credentials?: string;
}

export interface NewPushConfig {
  taskId: string;
  url: string;
  token?: string | null;
  authentication?: PushAuthentication | null;
  /** The A2A config id; a UUID is made when absent. Creating with an existing id replaces that config. */
  configId?: string | null;
  /** Body of the deliveries: the DealScale task view (default) or the A2A formatter's output. */
  format?: PushFormat;
}

export interface PushConfigRow {
  /** The row's uuid; webhook_deliveries.push_config_id refers to it. */
  id: string;
  tenant_id: string;
  task_id: string;
  /** The A2A pushNotificationConfig.id. */
  config_id: string;
  url: string;
  token: string | null;
  authentication: PushAuthentication | null;
  /** HMAC key of X-DealScale-Signature; null only for rows written outside this module (then the tenant's secret signs). */
  secret: string | null;
  format: PushFormat;
  created_at: Date;
}

/** The task does not exist for this tenant. */
export class PushConfigTaskNotFound extends Error {
  constructor(taskId: string) {
    super(`task "${taskId}" not found`);
    this.name = "PushConfigTaskNotFound";
  }
}

/** A token, scheme or credential that cannot travel as an HTTP header value (control characters, too long). */
export class PushConfigInvalid extends Error {
  constructor(public readonly field: string, message: string) {
    super(`${field} ${message}`);
    this.name = "PushConfigInvalid";
  }
}

/** Visible ASCII and inner spaces: what an HTTP header value can carry without mangling. */
const HEADER_SAFE = /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/;
const SCHEME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/;

function assertSendable(c: NewPushConfig): void {
  if (typeof c.url !== "string" || !c.url) throw new PushConfigInvalid("url", "is required");
  if (c.configId != null && (typeof c.configId !== "string" || c.configId.length < 1 || c.configId.length > 200)) throw new PushConfigInvalid("configId", "must be a string of 1 to 200 characters");
  if (c.token != null && (typeof c.token !== "string" || c.token.length > 4096 || (c.token !== "" && !HEADER_SAFE.test(c.token)))) {
    throw new PushConfigInvalid("token", "must be printable ASCII without line breaks, at most 4096 characters");
  }
  const auth = c.authentication;
  if (auth) {
    if (!Array.isArray(auth.schemes) || auth.schemes.some((s) => typeof s !== "string" || !SCHEME.test(s))) throw new PushConfigInvalid("authentication.schemes", "must be HTTP auth scheme names");
    if (auth.credentials != null && (typeof auth.credentials !== "string" || auth.credentials.length > 4096 || (auth.credentials !== "" && !HEADER_SAFE.test(auth.credentials)))) {
      throw new PushConfigInvalid("authentication.credentials", "must be printable ASCII without line breaks, at most 4096 characters");
    }
  }
}

/**
 * Creates the config, or replaces url, token, authentication and format of the task's config with
 * the same configId (its id and secret stay). Throws PushConfigTaskNotFound for an unknown task and
 * PushConfigInvalid for a token or authentication that cannot be sent as a header.
 */
export async function createPushConfig(tx: TenantTx, c: NewPushConfig): Promise<PushConfigRow> {
  assertSendable(c);
  if (!isUuid(c.taskId) || !(await tx.one("SELECT 1 FROM tasks WHERE id = $1", [c.taskId]))) throw new PushConfigTaskNotFound(c.taskId);
  const id = randomUUID();
  const row = await tx.one<PushConfigRow>(
    `INSERT INTO task_push_configs (id, tenant_id, task_id, config_id, url, token, authentication, secret, format)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
     ON CONFLICT (task_id, config_id) DO UPDATE
       SET url = EXCLUDED.url, token = EXCLUDED.token, authentication = EXCLUDED.authentication, format = EXCLUDED.format
     RETURNING *`,
    [
      id,
      tx.tenantId,
      c.taskId,
      c.configId ?? id,
      c.url,
      c.token ?? null,
      c.authentication ? JSON.stringify(c.authentication) : null,
      newSecret(),
      c.format ?? "dealscale",
    ],
  );
  return row!;
}

/** By the A2A config id. */
export async function getPushConfig(tx: TenantTx, taskId: string, configId: string): Promise<PushConfigRow | undefined> {
  if (!isUuid(taskId)) return undefined;
  return tx.one<PushConfigRow>("SELECT * FROM task_push_configs WHERE task_id = $1 AND config_id = $2", [taskId, configId]);
}

export async function listPushConfigs(tx: TenantTx, taskId: string): Promise<PushConfigRow[]> {
  if (!isUuid(taskId)) return [];
  return tx.query<PushConfigRow>("SELECT * FROM task_push_configs WHERE task_id = $1 ORDER BY created_at, id", [taskId]);
}

/** True when a config was deleted; its pending deliveries are dropped. */
export async function deletePushConfig(tx: TenantTx, taskId: string, configId: string): Promise<boolean> {
  if (!isUuid(taskId)) return false;
  const rows = await tx.query("DELETE FROM task_push_configs WHERE task_id = $1 AND config_id = $2 RETURNING id", [taskId, configId]);
  return rows.length > 0;
}

/** By the row's uuid (deliveries refer to that). */
export async function pushConfigById(tx: TenantTx, id: string): Promise<PushConfigRow | undefined> {
  if (!isUuid(id)) return undefined;
  return tx.one<PushConfigRow>("SELECT * FROM task_push_configs WHERE id = $1", [id]);
}

/** The same operations for one tenant at a time, each in its own tenant transaction (for the A2A face). */
export class TenantPushConfigs {
  constructor(private readonly pool: Pool) {}

  create(tenantId: string, c: NewPushConfig): Promise<PushConfigRow> {
    return withTenant(this.pool, tenantId, (tx) => createPushConfig(tx, c));
  }

  list(tenantId: string, taskId: string): Promise<PushConfigRow[]> {
    return withTenant(this.pool, tenantId, (tx) => listPushConfigs(tx, taskId));
  }

  /** One config, or every config of the task when configId is omitted. */
  remove(tenantId: string, taskId: string, configId?: string): Promise<void> {
    return withTenant(this.pool, tenantId, async (tx) => {
      const ids = configId ? [configId] : (await listPushConfigs(tx, taskId)).map((r) => r.config_id);
      for (const id of ids) await deletePushConfig(tx, taskId, id);
    });
  }
}
