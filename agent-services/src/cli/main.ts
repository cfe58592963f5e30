/**
 * Operator CLI: `npm run -s cli -- <command> [options]`. Prints JSON (or the token alone) on stdout
 * so scripts can read it; errors go to stderr with a non-zero exit code.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config/config";
import { createOwnerPool, ensureDatabase, migrate } from "../store/database";
import { checkPostgres } from "../store/preflight";
import { isUuid } from "../store/tenant-tx";
import { signToken } from "../gateway/auth";
import { createTenant, grantCredits, tenantBalance } from "../tasks/tenants";
import { verifyAuditChain } from "../tasks/audit";
import { existsSync, statSync } from "node:fs";
import { ImportSetupError, parseMappingArgs } from "../agents/data-engineer/domain/csv-import";
import { importLeadsFromFile } from "../agents/data-engineer/import-cli";

const HELP = `usage: npm run -s cli -- <command> [options]

commands:
  db:migrate                                   create the database if missing and run migrations
  tenant:create --name N [--credits C]         create a tenant; prints {"tenantId": ...}
  token --tenant T --agent A [--scopes S,..] [--ttl SECONDS]
                                               mint a bearer token (default scopes a2a:call,a2a:read; ttl 3600)
  credits:grant --tenant T --amount C          add credits; prints the new balance
  credits:balance --tenant T                   print the balance
  audit:verify --tenant T                      verify the tenant's audit hash chain; exit 1 if broken
  leads:import --tenant T --file F.csv [--map column=field ...]
                                               import leads from a CSV (header row; columns named like a lead
                                               field map automatically, others become attributes); prints
                                               {"imported": N, "leadIds": [...]}, rejected rows on stderr

environment: DATABASE_URL, A2A_JWT_SECRET (see README)`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

function tenantArg(values: Record<string, unknown>): string {
  const t = need(values, "tenant");
  if (!isUuid(t)) throw new UsageError(`--tenant must be a tenant id (uuid), got "${t}"`);
  return t;
}

async function withOwnerPool<T>(config: Config, fn: (pool: ReturnType<typeof createOwnerPool>) => Promise<T>): Promise<T> {
  const down = await checkPostgres(config.databaseUrl);
  if (down) throw new Error(down);
  const pool = createOwnerPool(config);
  try {
    return await fn(pool);
  } finally {
    await pool.end();
  }
}

export async function run(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "help" || command === "--help" || command === "-h") {
    console.log(HELP);
    return command ? 0 : 2;
  }
  const { values } = parseArgs({
    args: rest,
    options: {
      name: { type: "string" },
      credits: { type: "string" },
      tenant: { type: "string" },
      agent: { type: "string" },
      scopes: { type: "string" },
      ttl: { type: "string" },
      amount: { type: "string" },
      file: { type: "string" },
      map: { type: "string", multiple: true },
    },
    strict: true,
  });
  const config = loadConfig();

  switch (command) {
    case "db:migrate": {
      const down = await checkPostgres(config.databaseUrl);
      if (down) throw new Error(down);
      const created = await ensureDatabase(config.databaseUrl);
      const applied = await migrate(config);
      console.log(JSON.stringify({ databaseCreated: created, applied }));
      return 0;
    }
    case "tenant:create": {
      const name = need(values, "name");
      const result = await withOwnerPool(config, (pool) => createTenant(pool, name, values.credits ?? "0"));
      console.log(JSON.stringify({ tenantId: result.tenantId, credits: result.credits }));
      return 0;
    }
    case "token": {
      const tenantId = tenantArg(values);
      const agentId = need(values, "agent");
      const ttl = Number(values.ttl ?? 3600);
      if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError("--ttl must be a positive number of seconds");
      const scopes = (values.scopes ?? "a2a:call,a2a:read").split(/[,\s]+/).filter(Boolean);
      console.log(signToken(config.jwtSecret, { agentId, tenantId, scopes }, ttl, config.jwtIssuer));
      return 0;
    }
    case "credits:grant": {
      const tenantId = tenantArg(values);
      const amount = need(values, "amount");
      console.log(JSON.stringify(await withOwnerPool(config, (pool) => grantCredits(pool, tenantId, amount))));
      return 0;
    }
    case "credits:balance": {
      const tenantId = tenantArg(values);
      const balance = await withOwnerPool(config, (pool) => tenantBalance(pool, tenantId));
      if (balance === null) throw new Error(`tenant ${tenantId} not found`);
      console.log(JSON.stringify({ tenantId, balance }));
      return 0;
    }
    case "audit:verify": {
      const tenantId = tenantArg(values);
      const result = await withOwnerPool(config, (pool) => verifyAuditChain(pool, tenantId));
      console.log(JSON.stringify({ tenantId, ...result }));
      return result.ok ? 0 : 1;
    }
    case "leads:import": {
      const tenantId = tenantArg(values);
      const file = need(values, "file");
      if (!existsSync(file) || !statSync(file).isFile()) throw new UsageError(`--file ${file}: no such file`);
      let mapping: Record<string, string>;
      try {
        mapping = parseMappingArgs(values.map ?? []);
      } catch (e) {
        throw e instanceof ImportSetupError ? new UsageError(e.message) : e;
      }
      try {
        await withOwnerPool(config, (pool) => importLeadsFromFile(pool, tenantId, file, mapping, { stdout: process.stdout, stderr: process.stderr }));
      } catch (e) {
        throw e instanceof ImportSetupError ? new UsageError(e.message) : e;
      }
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const parseError = String((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS_");
      if (e instanceof UsageError || parseError) console.error(`${(e as Error).message}\n\n${HELP}`);
      else if (e instanceof ConfigError) console.error(e.message);
      else console.error(`error: ${(e as Error).message}`);
      process.exit(e instanceof UsageError || parseError ? 2 : 1);
    },
  );
}
