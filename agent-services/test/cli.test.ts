/**
 * The operator CLI and the start command's preflight, run as the compiled programs they ship as
 * (`npm run build` first): JSON on stdout, usage errors exit 2, a dead Postgres or Redis is one
 * readable line on stderr with the way to start it, never a stack trace.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import jwt from "jsonwebtoken";
import type { Pool } from "pg";
import { eventually, testEnv, testDatabaseUrl, createMigratedDatabase, dropDatabase } from "./support/harness";
import type { Config } from "../src/config/config";
import { createOwnerPool } from "../src/store/database";
import { verifyBearer } from "../src/gateway/auth";
import { postgresProblem } from "../src/store/preflight";
import net from "node:net";
import os from "node:os";
import { mkdtempSync, writeFileSync } from "node:fs";
import { spawn } from "node:child_process";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.resolve(__dirname, "../dist/cli/main.js");
const MAIN = path.resolve(__dirname, "../dist/main.js");
const DEAD_PG = "postgres://postgres@127.0.0.1:1/x";
const DEAD_REDIS = "redis://127.0.0.1:1";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HINT = "docker compose up -d postgres redis";

let env: Record<string, string>;
let config: Config;
let owner: Pool;

beforeAll(async () => {
  env = testEnv(testDatabaseUrl());
  config = await createMigratedDatabase(env);
  owner = createOwnerPool(config);
});
afterAll(async () => {
  await owner?.end();
  if (config) await dropDatabase(config.databaseUrl);
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(script: string, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 20_000): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env, ...extraEnv }, timeout: timeoutMs, killSignal: "SIGKILL" },
      (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null) : 0;
        resolve({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
  });
}
const cli = (args: string[], extraEnv?: Record<string, string>) => run(CLI, args, extraEnv);

const lines = (s: string) => s.split("\n").filter((l) => l.length > 0);
const noStackTrace = (s: string) => expect(s).not.toMatch(/^\s+at /m);

describe("tenant, token, credits and audit commands", () => {
  let tenantId: string;

  test("tenant:create prints exactly one JSON line with the new tenant's id", async () => {
    const r = await cli(["tenant:create", "--name", "Acme", "--credits", "250"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.endsWith("\n")).toBe(true);
    expect(lines(r.stdout)).toHaveLength(1);
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({ tenantId: expect.stringMatching(UUID), credits: 250 });
    tenantId = out.tenantId;
    const row = await owner.query("SELECT name, credits_balance_milli::text AS milli FROM tenants WHERE id = $1", [tenantId]);
    expect(row.rows).toEqual([{ name: "Acme", milli: "250000" }]);
  });

  test("token prints only the token, signed HS256 with the secret and the requested claims", async () => {
    const r = await cli(["token", "--tenant", tenantId, "--agent", "A", "--scopes", "a2a:call", "--ttl", "60"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(r.stdout).toBe(r.stdout.trim() + "\n");
    const tok = r.stdout.trim();
    expect(tok).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const claims = jwt.verify(tok, env.A2A_JWT_SECRET, { algorithms: ["HS256"] }) as jwt.JwtPayload;
    expect(claims).toMatchObject({ agentId: "A", tenantId, scopes: ["a2a:call"] });
    expect(claims.exp! - claims.iat!).toBe(60);
    expect(Math.abs(claims.iat! - Date.now() / 1000)).toBeLessThan(30);
    expect(jwt.decode(tok, { complete: true })!.header.alg).toBe("HS256");
    // The gateway accepts it as is.
    expect(verifyBearer(`Bearer ${tok}`, env.A2A_JWT_SECRET)).toMatchObject({ agentId: "A", tenantId, scopes: ["a2a:call"] });
    // And another secret does not.
    expect(() => jwt.verify(tok, "another-secret-0123456789abcdef0123456789abcdef")).toThrow(/invalid signature/);
  });

  test("token defaults to a2a:call,a2a:read and one hour", async () => {
    const r = await cli(["token", "--tenant", tenantId, "--agent", "B"]);
    expect(r.code).toBe(0);
    const claims = jwt.verify(r.stdout.trim(), env.A2A_JWT_SECRET) as jwt.JwtPayload;
    expect(claims.scopes).toEqual(["a2a:call", "a2a:read"]);
    expect(claims.exp! - claims.iat!).toBe(3600);
  });

  test("token refuses a ttl that is not a positive integer (exit 2)", async () => {
    for (const ttl of ["0", "-5", "abc", "1.5"]) {
      const r = await cli(["token", "--tenant", tenantId, "--agent", "A", `--ttl=${ttl}`]);
      expect([ttl, r.code]).toEqual([ttl, 2]);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/--ttl must be a positive number of seconds/);
    }
  });

  test("credits:grant adds a fractional amount; credits:balance shows 260.5", async () => {
    const g = await cli(["credits:grant", "--tenant", tenantId, "--amount", "10.5"]);
    expect(g.stderr).toBe("");
    expect(g.code).toBe(0);
    expect(lines(g.stdout)).toHaveLength(1);
    expect(JSON.parse(g.stdout)).toEqual({ tenantId, balance: 260.5 });

    const b = await cli(["credits:balance", "--tenant", tenantId]);
    expect(b.stderr).toBe("");
    expect(b.code).toBe(0);
    expect(lines(b.stdout)).toHaveLength(1);
    expect(JSON.parse(b.stdout)).toEqual({ tenantId, balance: 260.5 });

    const ledger = await owner.query("SELECT kind, amount_milli::text AS milli FROM credit_ledger WHERE tenant_id = $1 ORDER BY id", [tenantId]);
    expect(ledger.rows).toEqual([
      { kind: "grant", milli: "250000" },
      { kind: "grant", milli: "10500" },
    ]);
  });

  test("tenant:settings sets and clears the default country (audited); a country it does not know is a usage error", async () => {
    const set = await cli(["tenant:settings", "--tenant", tenantId, "--default-country", "United States"]);
    expect([set.code, set.stderr]).toEqual([0, ""]);
    expect(JSON.parse(set.stdout)).toEqual({ defaultCountry: "US" });
    expect((await owner.query("SELECT settings FROM tenants WHERE id = $1", [tenantId])).rows[0].settings).toEqual({ defaultCountry: "US" });
    const audit = await owner.query("SELECT details FROM audit_logs WHERE tenant_id = $1 AND event_type = 'tenant_settings_changed'", [tenantId]);
    expect(audit.rows).toEqual([{ details: { before: {}, after: { defaultCountry: "US" } } }]);

    const bad = await cli(["tenant:settings", "--tenant", tenantId, "--default-country", "Narnia"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/"Narnia" is not a country/);
    const cleared = await cli(["tenant:settings", "--tenant", tenantId, "--default-country", "none"]);
    expect(JSON.parse(cleared.stdout)).toEqual({});
  });

  test("audit:verify exits 0 and prints ok true over the tenant's chain", async () => {
    const r = await cli(["audit:verify", "--tenant", tenantId]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({ tenantId, ok: true, rows: 4 });
    const events = await owner.query("SELECT event_type FROM audit_logs WHERE tenant_id = $1 ORDER BY seq", [tenantId]);
    expect(events.rows.map((e) => e.event_type)).toEqual(["tenant_created", "credits_granted", "tenant_settings_changed", "tenant_settings_changed"]);
  });

  test("tenant:settings --campaign-template: a file sets launchCampaign's default, off requires one, builtin goes back; a bad file is a usage error", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "cli-template-"));
    const file = path.join(dir, "house.json");
    writeFileSync(file, JSON.stringify({ subject: "Hi {{firstName}}", body: "Hello from us" }));
    const set = await cli(["tenant:settings", "--tenant", tenantId, "--campaign-template", file]);
    expect([set.code, set.stderr]).toEqual([0, ""]);
    expect(JSON.parse(set.stdout).campaignTemplate).toEqual({ subject: "Hi {{firstName}}", body: "Hello from us" });
    const off = await cli(["tenant:settings", "--tenant", tenantId, "--campaign-template", "off"]);
    expect(JSON.parse(off.stdout).campaignTemplate).toBe(false);
    const builtin = await cli(["tenant:settings", "--tenant", tenantId, "--campaign-template", "builtin"]);
    expect(JSON.parse(builtin.stdout).campaignTemplate).toBeUndefined();
    writeFileSync(file, JSON.stringify({ subject: "no body" }));
    const bad = await cli(["tenant:settings", "--tenant", tenantId, "--campaign-template", file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/must hold \{"subject"/);
    const missing = await cli(["tenant:settings", "--tenant", tenantId, "--campaign-template", path.join(dir, "nope.json")]);
    expect(missing.code).toBe(2);
  });

  test("credits:balance of a tenant that does not exist → exit 1 with one line", async () => {
    const r = await cli(["credits:balance", "--tenant", "0d3e0000-0000-4000-8000-00000000ffff"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toEqual(["error: tenant 0d3e0000-0000-4000-8000-00000000ffff not found"]);
  });
});

describe("one exit-code table (issue 10)", () => {
  let tenantId: string;
  beforeAll(async () => {
    tenantId = JSON.parse((await cli(["tenant:create", "--name", "Codes"])).stdout).tenantId;
  });

  test("--help documents the table and the known scopes", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/exit codes:\n  0  done[\s\S]*\n  1  runtime failure[\s\S]*\n  2  usage[\s\S]*\n  3  leads:import imported some rows/);
    expect(r.stdout).toMatch(/scopes: a2a:call, a2a:read/);
  });

  test("token refuses an unknown scope (exit 2) and a tenant that does not exist (exit 1); it mints nothing", async () => {
    const bogus = await cli(["token", "--tenant", tenantId, "--agent", "A", "--scopes", "a2a:call,bogus"]);
    expect([bogus.code, bogus.stdout]).toEqual([2, ""]);
    expect(bogus.stderr).toMatch(/^--scopes: unknown scope "bogus"; known: a2a:call, a2a:read/);
    const ghost = await cli(["token", "--tenant", "0d3e0000-0000-4000-8000-00000000fffe", "--agent", "A"]);
    expect([ghost.code, ghost.stdout]).toEqual([1, ""]);
    expect(lines(ghost.stderr)).toEqual(["error: tenant 0d3e0000-0000-4000-8000-00000000fffe not found"]);
  });

  test.each([
    [["--amount", "abc"], /--amount must be a number of credits/],
    [["--amount", "-5"], /--amount must be more than zero, got "-5"/],
    [["--amount=-5"], /--amount must be more than zero/],
    [["--amount", "0"], /--amount must be more than zero/],
    [["--amount", "1.0001"], /at most three decimals/],
  ])("credits:grant %j is a usage error (exit 2) that says what is wrong", async (amount, message) => {
    const r = await cli(["credits:grant", "--tenant", tenantId, ...amount]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/ambiguous/);
  });

  test("tenant:create --credits that is not a number is a usage error too", async () => {
    const r = await cli(["tenant:create", "--name", "X", "--credits", "lots"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--credits must be a number of credits/);
  });

  test("leads:import: a header-only CSV and an all-rejected CSV import nothing and exit 1 saying so", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "ds-cli-"));
    const headerOnly = path.join(dir, "header.csv");
    writeFileSync(headerOnly, "email,first_name\n");
    const a = await cli(["leads:import", "--tenant", tenantId, "--file", headerOnly]);
    expect(a.code).toBe(1);
    expect(lines(a.stderr)).toEqual([`error: nothing imported: ${headerOnly} has a header but no data rows`]);
    const allBad = path.join(dir, "bad.csv");
    writeFileSync(allBad, "email,first_name,last_name\na@x.com,A\nb@x.com\n,,\n");
    const b = await cli(["leads:import", "--tenant", tenantId, "--file", allBad]);
    expect(b.code).toBe(1);
    expect(lines(b.stderr).at(-1)).toMatch(/^error: nothing imported: all \d+ rows were rejected$/);
  });
});

describe("usage errors exit 2 with the usage on stderr", () => {
  test("an unknown command", async () => {
    const r = await cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/unknown command "frobnicate"/);
    expect(r.stderr).toMatch(/^usage: /m);
    expect(r.stderr).toMatch(/tenant:create --name N/);
    noStackTrace(r.stderr);
  });

  test("no command at all", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stdout + r.stderr).toMatch(/^usage: /m);
  });

  test("an unknown option", async () => {
    const r = await cli(["tenant:create", "--name", "X", "--colour", "red"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/colour/);
    expect(r.stderr).toMatch(/^usage: /m);
    noStackTrace(r.stderr);
  });

  test.each([
    [["token", "--agent", "A"]],
    [["credits:grant", "--amount", "5"]],
    [["credits:balance"]],
    [["audit:verify"]],
    [["audit:verify", "--tenant", ""]],
  ])("missing --tenant: %j", async (args) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^--tenant is required$/m);
    expect(r.stderr).toMatch(/^usage: /m);
    noStackTrace(r.stderr);
  });

  test.each([
    [["audit:verify", "--tenant"]],
    [["token", "--agent", "A", "--tenant"]],
  ])("--tenant given without its value is a usage error too: %j", async (args) => {
    const r = await cli(args);
    expect(r.stderr).toMatch(/--tenant/);
    expect(r.stderr).toMatch(/^usage: /m);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    noStackTrace(r.stderr);
  });

  test.each([
    [["token", "--tenant", "acme", "--agent", "A"]],
    [["credits:grant", "--tenant", "acme", "--amount", "5"]],
    [["credits:balance", "--tenant", "1234"]],
    [["audit:verify", "--tenant", "'; DROP TABLE tenants; --"]],
  ])("a non-uuid tenant: %j", async (args) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/--tenant must be a tenant id \(uuid\)/);
    noStackTrace(r.stderr);
  });

  test("missing --name and missing --agent", async () => {
    const a = await cli(["tenant:create"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/--name is required/);
    const b = await cli(["token", "--tenant", "0d3e0000-0000-4000-8000-000000000001"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--agent is required/);
  });
});

describe("a dead Postgres is one readable line, no stack trace", () => {
  test("tenant:create with DATABASE_URL at port 1 → exit 1, one line naming PostgreSQL and how to start it", async () => {
    const r = await cli(["tenant:create", "--name", "X"], { DATABASE_URL: DEAD_PG });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/PostgreSQL/);
    expect(r.stderr).toMatch(/127\.0\.0\.1:1/);
    expect(r.stderr).toContain(HINT);
    noStackTrace(r.stderr);
    expect(r.ms).toBeLessThan(10_000);
  });

  test.each([
    [["credits:balance", "--tenant", "0d3e0000-0000-4000-8000-000000000001"]],
    [["audit:verify", "--tenant", "0d3e0000-0000-4000-8000-000000000001"]],
    [["credits:grant", "--tenant", "0d3e0000-0000-4000-8000-000000000001", "--amount", "1"]],
    [["db:migrate"]],
  ])("%j with a dead Postgres → exit 1, one line", async (args) => {
    const r = await cli(args, { DATABASE_URL: DEAD_PG });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/PostgreSQL/);
    expect(r.stderr).toContain(HINT);
    noStackTrace(r.stderr);
  });
});

describe("the start command's preflight", () => {
  const start = (extraEnv: Record<string, string>) => run(MAIN, [], { SEED_DEMO: "false", PORT: "0", HOST: "127.0.0.1", ...extraEnv }, 20_000);

  test("Postgres not answering → exit 1 within seconds, one line about PostgreSQL with the docker compose hint", async () => {
    const r = await start({ DATABASE_URL: DEAD_PG });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8000);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^PostgreSQL does not answer at 127\.0\.0\.1:1 \(DATABASE_URL\)/);
    expect(r.stderr).toContain(HINT);
    expect(r.stderr).not.toMatch(/Redis/);
    noStackTrace(r.stderr);
  });

  test("Redis not answering → exit 1 within seconds, one line about Redis with the docker compose hint", async () => {
    const r = await start({ REDIS_URL: DEAD_REDIS });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8000);
    expect(r.stdout).toBe("");
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^Redis does not answer at 127\.0\.0\.1:1 \(REDIS_URL\)/);
    expect(r.stderr).toContain(HINT);
    expect(r.stderr).not.toMatch(/PostgreSQL/);
    noStackTrace(r.stderr);
  });

  test("both down → exit 1 with exactly one line for each", async () => {
    const r = await start({ DATABASE_URL: DEAD_PG, REDIS_URL: DEAD_REDIS });
    expect(r.code).toBe(1);
    expect(r.ms).toBeLessThan(8000);
    const out = lines(r.stderr);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatch(/^PostgreSQL does not answer/);
    expect(out[1]).toMatch(/^Redis does not answer/);
    noStackTrace(r.stderr);
  });

  test("a role Postgres does not know → one line saying so and how to fix it, not 'does not answer' (issue 10)", async () => {
    const url = new URL(env.DATABASE_URL);
    url.username = "no_such_role_x";
    const r = await start({ DATABASE_URL: url.toString() });
    expect(r.code).toBe(1);
    expect(lines(r.stderr)).toEqual([expect.stringMatching(/^PostgreSQL at 127\.0\.0\.1:5432 \(DATABASE_URL\) has no role "no_such_role_x": create it/)]);
    expect(r.stderr).not.toMatch(/does not answer|docker compose/);
  });

  test("something that accepts connections but never answers → 'did not answer within 3 s', for each of them (issue 10)", async () => {
    const silent = net.createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const r = await start({ DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/x`, REDIS_URL: `redis://127.0.0.1:${port}` });
      expect(r.code).toBe(1);
      expect(r.ms).toBeLessThan(10_000);
      expect(lines(r.stderr)).toEqual([
        expect.stringMatching(new RegExp(`^PostgreSQL at 127\\.0\\.0\\.1:${port} \\(DATABASE_URL\\) did not answer within 3 s`)),
        expect.stringMatching(new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\) did not answer within 3 s`)),
      ]);
    } finally {
      silent.close();
    }
  });

  test("Redis on a port where nothing listens says so, not 'Connection is closed'; a refused password is a credentials problem (issue 10)", async () => {
    const r = await start({ REDIS_URL: "redis://127.0.0.1:1" });
    expect(r.stderr).toMatch(/^Redis does not answer at 127\.0\.0\.1:1 \(REDIS_URL\): nothing listens there/);
    expect(r.stderr).not.toMatch(/Connection is closed/);
    // A Redis of its own that requires a password.
    const port = await new Promise<number>((resolve) => {
      const probe = net.createServer().listen(0, "127.0.0.1", () => {
        const p = (probe.address() as net.AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const redis = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--requirepass", "the-right-one", "--save", "", "--appendonly", "no"], { stdio: "ignore" });
    try {
      await eventually("the password-protected Redis", async () => {
        const sock = net.connect(port, "127.0.0.1");
        return new Promise<boolean>((resolve) => sock.once("connect", () => (sock.destroy(), resolve(true))).once("error", () => resolve(false)));
      });
      const auth = await start({ REDIS_URL: `redis://:wrong-password@127.0.0.1:${port}` });
      expect(auth.code).toBe(1);
      expect(lines(auth.stderr)).toEqual([expect.stringMatching(new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} \\(REDIS_URL\\) refused the credentials: .*fix the user and password in REDIS_URL`))]);
    } finally {
      redis.kill("SIGKILL");
    }
  });

  test("the messages for a refused password and a refused pg_hba entry name the fix (issue 10)", () => {
    expect(postgresProblem({ code: "28P01", message: 'password authentication failed for user "app"' }, "db:5432", "app")).toBe(
      'PostgreSQL at db:5432 (DATABASE_URL) refused the password of user "app": fix the password in DATABASE_URL.',
    );
    expect(postgresProblem({ code: "28000", message: 'no pg_hba.conf entry for host "10.0.0.9", user "app", database "postgres", no encryption' }, "db:5432", "app")).toMatch(
      /refused user "app" \(no pg_hba\.conf entry .*\): allow this client in pg_hba\.conf/,
    );
    expect(postgresProblem({ code: "ENOTFOUND", message: "getaddrinfo ENOTFOUND db" }, "db:5432", "app")).toMatch(/host name does not resolve/);
  });

  test("an invalid configuration → exit 2 naming the problem, before any connection is tried", async () => {
    const r = await start({ DATABASE_URL: "mysql://nope", A2A_JWT_SECRET: "short" });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL must use postgres: or postgresql:/);
    expect(r.stderr).toMatch(/A2A_JWT_SECRET must be at least 32 characters/);
    noStackTrace(r.stderr);
  });
});
