/**
 * Operator CLI: `npm run -s cli -- <command> [options]`. Prints JSON (or the token alone) on stdout
 * so scripts can read it; errors go to stderr with a non-zero exit code.
 */
import { parseArgs } from "node:util";
import { ConfigError, loadConfig, type Config } from "../config/config";
import { createOwnerPool, ensureDatabase, migrate } from "../store/database";
import { checkPostgres } from "../store/preflight";
import { isUuid } from "../lib/uuid";
import { SCOPES, signToken } from "../gateway/auth";
import { createTenant, grantCredits, tenantBalance, updateTenantSettings } from "../tasks/tenants";
import { countryCode } from "../agents/data-engineer/domain/normalize";
import { creditsToMilli } from "../protocol/credits";
import { verifyAuditChain } from "../tasks/audit";
import { existsSync, readFileSync, statSync } from "node:fs";
import { ImportSetupError, parseMappingArgs } from "../agents/data-engineer/domain/csv-import";
import { importLeadsFromFile } from "../agents/data-engineer/import-cli";

const KNOWN_SCOPES: string[] = Object.values(SCOPES);

export const EXIT = { ok: 0, failure: 1, usage: 2, partialImport: 3 } as const;

const HELP = `usage: npm run -s cli -- <command> [options]

commands:
  db:migrate                                   create the database if missing and run migrations
  tenant:create --name N [--credits C]         create a tenant; prints {"tenantId": ...}
  token --tenant T --agent A [--scopes S,..] [--ttl SECONDS]
                                               mint a bearer token (default scopes a2a:call,a2a:read; ttl 3600)
  tenant:settings --tenant T [--default-country C] [--campaign-template F.json|builtin|off]
                                               set the tenant's default country for phones without one
                                               (ISO code or name; "none" clears it) and launchCampaign's
                                               template when a task gives none ({"subject", "body",
                                               "linkedinMessage"} from a file; "builtin" for the card's
                                               default; "off" makes every launch give one); prints them
  credits:grant --tenant T --amount C          add credits; prints the new balance
  credits:balance --tenant T                   print the balance
  audit:verify --tenant T                      verify the tenant's audit hash chain; exit 1 if broken
  leads:import --tenant T --file F.csv [--map column=field ...]
                                               import leads from a CSV (header row; columns named like a lead
                                               field map automatically, others become attributes); prints
                                               {"imported": N, "leadIds": [...]}, rejected rows on stderr

scopes: ${KNOWN_SCOPES.join(", ")}
amounts and credits: decimal credits with up to three decimals (--amount=-5 reads as a value)

exit codes:
  0  done (leads:import: every data row imported)
  1  runtime failure: the database is down, a tenant does not exist, an audit chain is broken,
     leads:import imported nothing (no data rows, or every row rejected)
  2  usage: an unknown command or option, a missing or malformed argument, an invalid
     configuration (environment)
  3  leads:import imported some rows and rejected others (listed on stderr)

environment: DATABASE_URL, A2A_JWT_SECRET, NODE_ENV (see README)`;

class UsageError extends Error {}

function need(values: Record<string, unknown>, name: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") throw new UsageError(`--${name} is required`);
  return v;
}

/** Credits as the ledger keeps them: a decimal with up to three places, positive unless `allowZero`. */
function creditsArg(values: Record<string, unknown>, name: string, allowZero: boolean): string {
  const raw = need(values, name);
  let milli: bigint;
  try {
    milli = creditsToMilli(raw);
  } catch {
    throw new UsageError(`--${name} must be a number of credits with at most three decimals, got "${raw}"`);
  }
  if (milli < 0n || (!allowZero && milli === 0n)) throw new UsageError(`--${name} must be ${allowZero ? "zero or more" : "more than zero"}, got "${raw}"`);
  return raw;
}

/**
 * parseArgs reads `--amount -5` as an option named 5; a value that is a negative number is glued
 * to its option instead, so the command can say what is wrong with it.
 */
function glueNegativeValues(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (/^--[a-z]+$/.test(args[i]) && i + 1 < args.length && /^-\d/.test(args[i + 1])) {
      out.push(`${args[i]}=${args[i + 1]}`);
      i++;
    } else {
      out.push(args[i]);
    }
  }
  return out;
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
    args: glueNegativeValues(rest),
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
      "default-country": { type: "string" },
      "campaign-template": { type: "string" },
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
      const credits = values.credits === undefined ? "0" : creditsArg(values, "credits", true);
      const result = await withOwnerPool(config, (pool) => createTenant(pool, name, credits));
      console.log(JSON.stringify({ tenantId: result.tenantId, credits: result.credits }));
      return 0;
    }
    case "token": {
      const tenantId = tenantArg(values);
      const agentId = need(values, "agent");
      const ttl = Number(values.ttl ?? 3600);
      if (!Number.isInteger(ttl) || ttl <= 0) throw new UsageError("--ttl must be a positive number of seconds");
      const scopes = (values.scopes ?? "a2a:call,a2a:read").split(/[,\s]+/).filter(Boolean);
      const unknown = scopes.filter((x) => !KNOWN_SCOPES.includes(x));
      if (!scopes.length || unknown.length) throw new UsageError(`--scopes: unknown scope ${unknown.map((x) => `"${x}"`).join(", ") || "(none given)"}; known: ${KNOWN_SCOPES.join(", ")}`);
      // A token for a tenant that does not exist would be refused on every call.
      if ((await withOwnerPool(config, (pool) => tenantBalance(pool, tenantId))) === null) throw new Error(`tenant ${tenantId} not found`);
      console.log(signToken(config.jwtSecret, { agentId, tenantId, scopes }, ttl, config.jwtIssuer));
      return 0;
    }
    case "tenant:settings": {
      const tenantId = tenantArg(values);
      const change: Record<string, unknown> = {};
      const country = values["default-country"];
      if (country !== undefined) {
        if (country === "none" || country === "") change.defaultCountry = null;
        else {
          const code = countryCode(country);
          if (!code) throw new UsageError(`--default-country: "${country}" is not a country (an ISO 3166-1 code such as US, or a name)`);
          change.defaultCountry = code;
        }
      }
      const template = values["campaign-template"];
      if (template !== undefined) change.campaignTemplate = campaignTemplateArg(template);
      console.log(JSON.stringify(await withOwnerPool(config, (pool) => updateTenantSettings(pool, tenantId, change))));
      return 0;
    }
    case "credits:grant": {
      const tenantId = tenantArg(values);
      const amount = creditsArg(values, "amount", false);
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
      let result: { imported: number; rejected: number };
      try {
        result = await withOwnerPool(config, (pool) => importLeadsFromFile(pool, tenantId, file, mapping, { stdout: process.stdout, stderr: process.stderr }));
      } catch (e) {
        throw e instanceof ImportSetupError ? new UsageError(e.message) : e;
      }
      if (result.imported === 0) {
        console.error(result.rejected ? `error: nothing imported: all ${result.rejected} rows were rejected` : `error: nothing imported: ${file} has a header but no data rows`);
        return EXIT.failure;
      }
      if (result.rejected) {
        console.error(`imported ${result.imported} rows, rejected ${result.rejected} (listed above)`);
        return EXIT.partialImport;
      }
      return EXIT.ok;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

/** --campaign-template: "builtin" clears the setting, "off" is false, anything else a JSON file. */
function campaignTemplateArg(value: string): unknown {
  if (value === "builtin") return null;
  if (value === "off") return false;
  if (!existsSync(value)) throw new UsageError(`--campaign-template: ${value} is not "builtin", "off" or a file`);
  let t: unknown;
  try {
    t = JSON.parse(readFileSync(value, "utf8"));
  } catch (e) {
    throw new UsageError(`--campaign-template: ${value} is not JSON (${(e as Error).message})`);
  }
  const ok = t !== null && typeof t === "object" && !Array.isArray(t) && typeof (t as { body?: unknown }).body === "string" && (t as { body: string }).body.trim() !== ""
    && Object.entries(t as object).every(([k, v]) => ["subject", "body", "linkedinMessage"].includes(k) && typeof v === "string");
  if (!ok) throw new UsageError(`--campaign-template: ${value} must hold {"subject": ..., "body": ..., "linkedinMessage": ...} (strings; body required)`);
  return t;
}

if (require.main === module) {
  run(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      const parseError = String((e as { code?: string }).code ?? "").startsWith("ERR_PARSE_ARGS_");
      if (e instanceof UsageError || parseError) console.error(`${(e as Error).message}\n\n${HELP}`);
      else if (e instanceof ConfigError) console.error(e.message);
      else console.error(`error: ${(e as Error).message}`);
      process.exit(e instanceof UsageError || parseError || e instanceof ConfigError ? EXIT.usage : EXIT.failure);
    },
  );
}
