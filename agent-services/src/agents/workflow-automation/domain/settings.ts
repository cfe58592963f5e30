/**
 * Engine settings for a tenant: tenants.settings.workflows.{n8n,kestra} over the operator's
 * defaults. A tenant that names its own base URL brings its own credentials too: the operator's
 * API key or password never travels to a URL a tenant chose.
 */
import type { KestraSettings, N8nSettings } from "./engines";

export interface EngineDefaults {
  n8n: { baseUrl?: string; apiKey?: string };
  kestra: { baseUrl?: string; username?: string; password?: string; tenant: string };
}

export interface ResolvedEngines {
  n8n: N8nSettings & { tenantBaseUrl: boolean };
  kestra: KestraSettings & { tenantBaseUrl: boolean };
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v.trim() ? v.trim() : undefined);

export function resolveEngines(tenantSettings: unknown, defaults: EngineDefaults): ResolvedEngines {
  const w = ((tenantSettings as { workflows?: Record<string, Record<string, unknown>> } | null)?.workflows ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const tn = w.n8n ?? {};
  const tk = w.kestra ?? {};
  const n8nBase = str(tn.baseUrl);
  const kestraBase = str(tk.baseUrl);
  return {
    n8n: n8nBase
      ? { baseUrl: n8nBase, apiKey: str(tn.apiKey), tenantBaseUrl: true }
      : { baseUrl: defaults.n8n.baseUrl, apiKey: str(tn.apiKey) ?? defaults.n8n.apiKey, tenantBaseUrl: false },
    kestra: kestraBase
      ? { baseUrl: kestraBase, username: str(tk.username), password: str(tk.password), tenant: str(tk.tenant) ?? defaults.kestra.tenant, tenantBaseUrl: true }
      : {
          baseUrl: defaults.kestra.baseUrl,
          username: str(tk.username) ?? defaults.kestra.username,
          password: str(tk.username) ? str(tk.password) : defaults.kestra.password,
          tenant: str(tk.tenant) ?? defaults.kestra.tenant,
          tenantBaseUrl: false,
        },
  };
}
