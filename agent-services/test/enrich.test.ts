/**
 * DataEngineer.enrichLeads end to end: the stack's provider base URLs point at local fake servers
 * that speak the providers' documented shapes (Apollo people/match + organizations/enrich with
 * x-api-key; Clearbit combined/find + companies/find with a bearer key, 202 = queued, 429 +
 * Retry-After; ZoomInfo /authenticate -> JWT, /enrich/contact and /enrich/company), tasks go in
 * over REST, and the leads are checked in Postgres.
 */
import http from "node:http";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { startTestStack, sleep, type TestStack } from "./support/harness";
import { fakeServer, json, type Fake, type Seen } from "./support/fake-http";
import { tenantBalance } from "../src/tasks/tenants";
import { withTenant } from "../src/store/tenant-tx";
import { normaliseTitle, seniorityFromTitle, normaliseSeniority } from "../src/agents/data-engineer/enrich-normalise";
import { planUpdate, providerChain } from "../src/agents/data-engineer/enrich";
import { parseRetryAfter, parseReset } from "../src/agents/data-engineer/providers/http";

const A = "data-engineer";
const APOLLO_KEY = "apollo-test-key";
const APOLLO_TENANT_KEY = "apollo-tenant-key";
const CLEARBIT_KEY = "sk_clearbit_test";
const ZI_USER = "zi-user@example.com";
const ZI_PASS = "zi-password";

// ---- Apollo: POST /api/v1/people/match, GET /api/v1/organizations/enrich?domain= (x-api-key) ----
const apolloPeople: Record<string, any> = {
  "jane@acme.io": {
    id: "p-jane", first_name: "Jane", last_name: "Doe", title: "vp of sales", seniority: "vp", headline: "Sales at Acme",
    linkedin_url: "http://www.linkedin.com/in/jane-doe", city: "San Francisco", state: "California", country: "United States",
    email_status: "verified", departments: ["master_sales"], phone_numbers: [{ raw_number: "+1 415-555-0100", sanitized_number: "+14155550100", type: "work_direct" }],
    organization: { id: "o-acme", name: "Acme", primary_domain: "acme.io", industry: "computer software", estimated_num_employees: 250, website_url: "http://www.acme.io" },
  },
  "fran@fallback.dev": {
    id: "p-fran", title: "Director of Engineering", seniority: "director", city: "Austin", country: "United States",
    organization: { id: "o-fb", name: "Fallback Dev", primary_domain: "fallback.dev", industry: "information technology & services", estimated_num_employees: 40 },
  },
  "mia@merge.co": {
    id: "p-mia", title: "Chief Marketing Officer", seniority: "c_suite",
    organization: { id: "o-merge", name: "Merge Co", primary_domain: "merge.co", industry: "marketing & advertising", estimated_num_employees: 120 },
  },
  "tenant@tenantkey.io": { id: "p-tk", title: "Founder", seniority: "founder", organization: { name: "Tenant Key Ltd", primary_domain: "tenantkey.io" } },
};
for (let i = 0; i < 8; i++) apolloPeople[`slow${i}@slowcorp.com`] = { id: `p-slow${i}`, title: "Engineer", organization: { name: "Slow Corp", primary_domain: "slowcorp.com", industry: "x", estimated_num_employees: 5 } };

async function apolloHandler(req: Seen, res: http.ServerResponse): Promise<void> {
  const limits = { "x-rate-limit-minute": "200", "x-minute-requests-left": "150", "x-rate-limit-hourly": "2000", "x-hourly-requests-left": "1900", "x-rate-limit-24-hour": "20000", "x-24-hour-requests-left": "19000" };
  if (req.headers["x-api-key"] !== APOLLO_KEY && req.headers["x-api-key"] !== APOLLO_TENANT_KEY) return json(res, 401, { error: "Invalid access credentials." });
  if (req.method === "POST" && req.path === "/api/v1/people/match") {
    const email = String(req.body?.email ?? "");
    if (email.startsWith("slow")) {
      const timer = setTimeout(() => json(res, 200, { person: apolloPeople[email] ?? null }, limits), 1500);
      res.on("close", () => clearTimeout(timer));
      return;
    }
    return json(res, 200, { person: apolloPeople[email] ?? null }, limits);
  }
  if (req.method === "GET" && req.path === "/api/v1/organizations/enrich") {
    const domain = req.query.get("domain");
    const org = Object.values(apolloPeople).map((p) => p.organization).find((o) => o?.primary_domain === domain);
    return org ? json(res, 200, { organization: org }, limits) : json(res, 404, { error: "not found" }, limits);
  }
  json(res, 404, { error: "no route" });
}

// ---- Clearbit: GET /v2/combined/find?email=, /v2/companies/find?domain= (Bearer) ----
const clearbitPeople: Record<string, { person: any; company: any }> = {
  "queued@globex.com": {
    person: { id: "cb-q", employment: { title: "Head of Growth", seniority: "director", name: "Globex", domain: "globex.com" }, geo: { city: "Berlin", country: "Germany", state: "Berlin" }, linkedin: { handle: "in/queued-person" }, timeZone: "Europe/Berlin" },
    company: { id: "cb-globex", name: "Globex", domain: "globex.com", category: { sector: "Industrials", industry: "Machinery" }, metrics: { employees: 900, employeesRange: "251-1K" } },
  },
  "ratelimited@initech.com": {
    person: { id: "cb-r", employment: { title: "Software Engineer", seniority: null, name: "Initech", domain: "initech.com" }, geo: { city: "Austin", country: "United States" } },
    company: { id: "cb-initech", name: "Initech", domain: "initech.com", category: { industry: "Software" }, metrics: { employees: 80 } },
  },
  "nobody@fallbackmiss.dev": {
    person: { id: "cb-n", employment: { title: "Product Manager", name: "Fallback Miss", domain: "fallbackmiss.dev" }, geo: { city: "Denver", country: "United States" } },
    company: { id: "cb-fb", name: "Fallback Miss", domain: "fallbackmiss.dev", category: { industry: "Internet Software & Services" }, metrics: { employees: 42 } },
  },
  "mia@merge.co": {
    person: { id: "cb-mia", employment: { title: "CMO", name: "Merge Co", domain: "merge.co" }, geo: { city: "Lisbon", country: "Portugal" }, linkedin: { handle: "in/mia-merge" } },
    company: { id: "cb-merge", name: "Merge Company", domain: "merge.co", category: { industry: "Advertising" }, metrics: { employees: 130 } },
  },
};
const clearbitCalls = new Map<string, number>();

async function clearbitHandler(req: Seen, res: http.ServerResponse): Promise<void> {
  const limits = { "x-ratelimit-limit": "600", "x-ratelimit-remaining": "599", "x-ratelimit-reset": "60" };
  if (req.headers.authorization !== `Bearer ${CLEARBIT_KEY}`) return json(res, 401, { error: { type: "auth_required", message: "API key required" } });
  if (req.path === "/v2/combined/find") {
    const email = req.query.get("email") ?? "";
    const n = (clearbitCalls.get(email) ?? 0) + 1;
    clearbitCalls.set(email, n);
    if (email === "queued@globex.com" && n === 1) return json(res, 202, {}, limits);
    if (email === "throttled@initech.com") return json(res, 429, { error: { type: "rate_limit" } }, { ...limits, "retry-after": "3600" });
    if (email === "ratelimited@initech.com" && n === 1) return json(res, 429, { error: { type: "rate_limit", message: "Too many requests" } }, { ...limits, "x-ratelimit-remaining": "0", "retry-after": "1" });
    const hit = clearbitPeople[email];
    return hit ? json(res, 200, hit, limits) : json(res, 404, { error: { type: "unknown_record", message: "Unknown email address" } }, limits);
  }
  if (req.path === "/v2/companies/find") {
    const company = Object.values(clearbitPeople).map((p) => p.company).find((c) => c.domain === req.query.get("domain"));
    return company ? json(res, 200, company, limits) : json(res, 404, { error: { type: "unknown_record" } }, limits);
  }
  json(res, 404, { error: { type: "not_found" } });
}

// ---- ZoomInfo: POST /authenticate -> {jwt}; POST /enrich/contact, /enrich/company (Bearer JWT) ----
const issuedJwts = new Set<string>();
async function zoominfoHandler(req: Seen, res: http.ServerResponse): Promise<void> {
  if (req.method === "POST" && req.path === "/authenticate") {
    if (req.body?.username !== ZI_USER || req.body?.password !== ZI_PASS) return json(res, 401, { error: "Invalid username or password" });
    const jwt = `eyJ.${randomBytes(8).toString("hex")}.sig`;
    issuedJwts.add(jwt);
    return json(res, 200, { jwt });
  }
  const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
  if (!token || !issuedJwts.has(token)) return json(res, 401, { error: "invalid or missing JWT" });
  const limits = { "x-ratelimit-limit": "25", "x-ratelimit-remaining": "24" };
  if (req.path === "/enrich/contact") {
    const input = req.body?.matchPersonInput?.[0] ?? {};
    if (!Array.isArray(req.body?.outputFields) || !req.body.outputFields.includes("jobTitle")) return json(res, 400, { error: "outputFields required" });
    const hit = input.emailAddress === "zed@umbrella.com";
    return json(res, 200, {
      success: true,
      data: {
        outputFields: [req.body.outputFields],
        result: [{
          input,
          data: hit ? [{ id: 9001, firstName: "Zed", lastName: "Z", email: "zed@umbrella.com", jobTitle: "VP, Research", managementLevel: ["VP-Level"], phone: "+1 212 555 0199", city: "New York", state: "New York", country: "United States", companyId: 4242, companyName: "Umbrella", externalUrls: [{ type: "linkedin.com", url: "https://www.linkedin.com/in/zed-umbrella" }], contactAccuracyScore: 95 }] : [],
          matchStatus: hit ? "FULL_MATCH" : "NO_MATCH",
        }],
      },
    }, limits);
  }
  if (req.path === "/enrich/company") {
    const input = req.body?.matchCompanyInput?.[0] ?? {};
    const hit = input.companyId === 4242 || input.companyWebsite === "umbrella.com";
    return json(res, 200, {
      success: true,
      data: { outputFields: [req.body.outputFields], result: [{ input, data: hit ? [{ id: 4242, name: "Umbrella Corporation", website: "www.umbrella.com", employeeCount: 12000, primaryIndustry: ["Pharmaceuticals"], revenue: 5000000 }] : [], matchStatus: hit ? "FULL_MATCH" : "NO_MATCH" }] },
    }, limits);
  }
  json(res, 404, { error: "no route" });
}

let t: TestStack;
let apollo: Fake;
let clearbit: Fake;
let zoominfo: Fake;
let tenant: string;
let token: string;

beforeAll(async () => {
  [apollo, clearbit, zoominfo] = await Promise.all([fakeServer(apolloHandler), fakeServer(clearbitHandler), fakeServer(zoominfoHandler)]);
  const env = {
    APOLLO_API_KEY: APOLLO_KEY,
    APOLLO_BASE_URL: apollo.url,
    CLEARBIT_API_KEY: CLEARBIT_KEY,
    CLEARBIT_BASE_URL: clearbit.url,
    ZOOMINFO_USERNAME: ZI_USER,
    ZOOMINFO_PASSWORD: ZI_PASS,
    ZOOMINFO_BASE_URL: zoominfo.url,
    ENRICH_QUEUED_DELAY_MS: "200",
    ENRICH_MAX_WAIT_MS: "5000",
    ENRICH_CONCURRENCY: "2",
    WEBHOOK_ALLOW_PRIVATE: "true",
  };
  t = await startTestStack(env);
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});

afterAll(async () => {
  await t?.close();
  await Promise.all([apollo?.close(), clearbit?.close(), zoominfo?.close()]);
});

type LeadSeed = Partial<Record<"email" | "first_name" | "last_name" | "title" | "company" | "domain" | "city" | "seniority" | "industry", string>> & { employee_count?: number };

async function addLeads(tenantId: string, leads: LeadSeed[]): Promise<string[]> {
  return withTenant(t.owner, tenantId, async (tx) => {
    const ids: string[] = [];
    for (const l of leads) {
      const cols = Object.keys(l);
      const row = await tx.one<{ id: string }>(
        `INSERT INTO leads (tenant_id${cols.map((c) => `, ${c}`).join("")}) VALUES ($1${cols.map((_, i) => `, $${i + 2}`).join("")}) RETURNING id`,
        [tenantId, ...cols.map((c) => (l as Record<string, unknown>)[c])],
      );
      ids.push(row!.id);
    }
    return ids;
  });
}

async function lead(tenantId: string, id: string): Promise<any> {
  return withTenant(t.owner, tenantId, (tx) => tx.one("SELECT * FROM leads WHERE id = $1", [id]));
}

async function enrich(inputs: Record<string, unknown>, tok = token): Promise<{ taskId: string; reserved: number }> {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type: "enrichLeads", inputs } });
  expect(res.status).toBe(202);
  return { taskId: res.body.taskId, reserved: res.body.creditsReserved };
}

const done = (taskId: string, tok = token) => t.waitForStatus(tok, A, taskId, ["completed", "failed", "cancelled", "timeout"], 30_000);

describe("pure parts", () => {
  test("titles and seniority are normalised to one vocabulary", () => {
    expect(normaliseTitle("sr. software eng")).toBe("Senior Software Engineer");
    expect(normaliseTitle("vp of SALES")).toBe("VP of Sales");
    expect(seniorityFromTitle("Founder & CEO")).toBe("founder");
    expect(seniorityFromTitle("Vice President, Marketing")).toBe("vp");
    expect(seniorityFromTitle("Chief Revenue Officer")).toBe("c_suite");
    expect(normaliseSeniority(["VP-Level"])).toBe("vp");
    expect(normaliseSeniority("executive")).toBe("c_suite");
  });
  test("Retry-After and X-RateLimit-Reset are read in every documented form", () => {
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("1", now)).toBe(1000);
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:05 GMT", now)).toBe(5000);
    expect(parseReset("30", now)).toBe(now + 30_000);
    expect(parseReset(String(now / 1000 + 10), now)).toBe(now + 10_000);
  });
  test("the chain puts the primary first; internal only fills blanks", () => {
    expect(providerChain("clearbit", ["apollo", "clearbit"])).toEqual(["clearbit", "apollo"]);
    expect(providerChain("apollo", ["zoominfo"])).toEqual(["apollo", "zoominfo"]);
    const l = { id: "x", email: null, first_name: null, last_name: null, title: "ceo", seniority: null, company: "Mine", domain: null, industry: null, employee_count: null, phone: null, linkedin_url: null, city: null, country: null, attributes: {} };
    const up = planUpdate(l, [{ provider: "internal", fields: { title: "CEO", seniority: "c_suite", company: "Theirs", domain: "theirs.com" }, extras: {} }]);
    expect(up.set).toEqual({ title: "CEO", seniority: "c_suite", domain: "theirs.com" });
  });
});

test("apollo: fields mapped into Postgres, only changes reported, credits for enriched leads only", async () => {
  const [jane, nobody] = await addLeads(tenant, [
    { email: "jane@acme.io", first_name: "Jane", last_name: "Doe", city: "San Francisco" },
    { email: "nobody@unknown-company.io", first_name: "No", last_name: "Body" },
  ]);
  const before = await tenantBalance(t.owner, tenant);
  const { taskId, reserved } = await enrich({ leadIds: [jane, nobody], provider: "apollo" });
  expect(reserved).toBe(2);
  const task = await done(taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds).toEqual([jane]);
  expect(task.outputs.failedLeadIds).toEqual([nobody]);
  expect(task.outputs.creditsUsed).toBe(1);
  expect(task.creditsUsed).toBe(1);
  expect(await tenantBalance(t.owner, tenant)).toBe(before! - 1);

  const change = task.outputs.changes.find((c: any) => c.leadId === jane);
  expect(change.provider).toBe("apollo");
  expect(change.fields).toMatchObject({
    title: { from: null, to: "VP of Sales" },
    seniority: { from: null, to: "vp" },
    company: { from: null, to: "Acme" },
    domain: { from: null, to: "acme.io" },
    industry: { from: null, to: "computer software" },
    employee_count: { from: null, to: 250 },
    phone: { from: null, to: "+14155550100" },
    linkedin_url: { from: null, to: "https://www.linkedin.com/in/jane-doe" },
    country: { from: null, to: "United States" },
  });
  expect(change.fields.city).toBeUndefined(); // unchanged: not written, not reported
  // The design document's EnrichedLead: the lead after enrichment, under the API's field names.
  expect(task.outputs.enrichedLeads).toHaveLength(1);
  expect(task.outputs.enrichedLeads[0]).toMatchObject({ leadId: jane, email: "jane@acme.io", firstName: "Jane", title: "VP of Sales", employeeCount: 250, city: "San Francisco", enrichedBy: ["apollo"] });
  expect(task.outputs.enrichedLeads[0].attributes.enrichment.apollo).toMatchObject({ personId: "p-jane" });

  const row = await lead(tenant, jane);
  expect(row).toMatchObject({ title: "VP of Sales", seniority: "vp", company: "Acme", domain: "acme.io", industry: "computer software", employee_count: 250, phone: "+14155550100", city: "San Francisco", country: "United States" });
  expect(row.attributes.enrichment.apollo).toMatchObject({ personId: "p-jane", state: "California", emailStatus: "verified" });
  expect(row.enriched_at).not.toBeNull();
  expect((await lead(tenant, nobody)).enriched_at).toBeNull();

  const match = apollo.seen.find((s) => s.path === "/api/v1/people/match" && s.body?.email === "jane@acme.io")!;
  expect(match.method).toBe("POST");
  expect(match.headers["x-api-key"]).toBe(APOLLO_KEY);
  expect(match.body).toMatchObject({ email: "jane@acme.io", first_name: "Jane", last_name: "Doe" });
  expect(match.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
});

test("clearbit: a 202 (queued) is asked again, a 429 waits for Retry-After, both leads enriched", async () => {
  const [q, r] = await addLeads(tenant, [{ email: "queued@globex.com" }, { email: "ratelimited@initech.com" }]);
  const task = await done((await enrich({ leadIds: [q, r], provider: "clearbit" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds.sort()).toEqual([q, r].sort());
  expect(clearbitCalls.get("queued@globex.com")).toBe(2);
  const limited = clearbit.seen.filter((s) => s.query.get("email") === "ratelimited@initech.com");
  expect(limited).toHaveLength(2);
  expect(limited[1].at - limited[0].at).toBeGreaterThanOrEqual(950);
  expect(limited[0].headers.authorization).toBe(`Bearer ${CLEARBIT_KEY}`);
  expect(await lead(tenant, q)).toMatchObject({ title: "Head of Growth", seniority: "head", company: "Globex", domain: "globex.com", industry: "Machinery", employee_count: 900, city: "Berlin", country: "Germany", linkedin_url: "https://www.linkedin.com/in/queued-person" });
  expect(await lead(tenant, r)).toMatchObject({ title: "Software Engineer", company: "Initech", employee_count: 80 });
});

test("a rate limit longer than the task may wait fails that lead as retryable, not the whole task", async () => {
  const [slow, ok] = await addLeads(tenant, [{ email: "throttled@initech.com" }, { email: "queued@globex.com" }]);
  const started = Date.now();
  const task = await done((await enrich({ leadIds: [slow, ok], provider: "clearbit" })).taskId);
  expect(Date.now() - started).toBeLessThan(10_000);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds).toEqual([ok]);
  expect(task.outputs.failedLeadIds).toEqual([slow]);
  expect(task.outputs.errors).toEqual([expect.objectContaining({ leadId: slow, provider: "clearbit", code: "provider_rate_limited", retryable: true })]);
  expect(task.creditsUsed).toBe(1);
});

test("zoominfo: authenticates for a JWT, enriches contact then company, and reuses the token", async () => {
  // The fake refuses enrich calls without a JWT it issued.
  const refused = await fetch(`${zoominfo.url}/enrich/contact`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  expect(refused.status).toBe(401);

  const [z] = await addLeads(tenant, [{ email: "zed@umbrella.com", first_name: "Zed" }]);
  const task = await done((await enrich({ leadIds: [z], provider: "zoominfo" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds).toEqual([z]);
  expect(await lead(tenant, z)).toMatchObject({
    title: "VP, Research", seniority: "vp", company: "Umbrella Corporation", domain: "umbrella.com", industry: "Pharmaceuticals",
    employee_count: 12000, phone: "+1 212 555 0199", city: "New York", country: "United States", linkedin_url: "https://www.linkedin.com/in/zed-umbrella",
  });
  const contact = zoominfo.seen.find((s) => s.path === "/enrich/contact" && s.headers.authorization)!;
  expect(contact.body.matchPersonInput).toEqual([{ emailAddress: "zed@umbrella.com", firstName: "Zed" }]);
  expect(contact.body.outputFields).toEqual(expect.arrayContaining(["jobTitle", "managementLevel", "companyId"]));
  expect(zoominfo.seen.find((s) => s.path === "/enrich/company")!.body.matchCompanyInput).toEqual([{ companyId: 4242 }]);

  const [z2] = await addLeads(tenant, [{ email: "zed@umbrella.com" }]);
  expect((await done((await enrich({ leadIds: [z2], provider: "zoominfo" })).taskId)).status).toBe("completed");
  expect(zoominfo.seen.filter((s) => s.path === "/authenticate")).toHaveLength(1);
});

test("fallback: the next provider is asked only when the previous one found nothing", async () => {
  const [miss, hit] = await addLeads(tenant, [{ email: "nobody@fallbackmiss.dev" }, { email: "fran@fallback.dev" }]);
  const task = await done((await enrich({ leadIds: [miss, hit], provider: "apollo", providers: ["apollo", "clearbit"], strategy: "fallback" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds.sort()).toEqual([miss, hit].sort());
  expect(task.outputs.providersUsed).toEqual(["apollo", "clearbit"]);
  expect(task.outputs.changes.find((c: any) => c.leadId === miss).provider).toBe("clearbit");
  expect(task.outputs.changes.find((c: any) => c.leadId === hit).provider).toBe("apollo");
  expect(clearbit.seen.some((s) => s.query.get("email") === "fran@fallback.dev")).toBe(false);
  const missErrors = task.outputs.errors.filter((e: any) => e.leadId === miss);
  expect(missErrors).toEqual([]);
  expect(await lead(tenant, miss)).toMatchObject({ title: "Product Manager", company: "Fallback Miss", city: "Denver" });
  expect(await lead(tenant, hit)).toMatchObject({ title: "Director of Engineering", seniority: "director", city: "Austin" });
});

test("merge: all providers at once, each field from the first provider in the chain that has it", async () => {
  const [m] = await addLeads(tenant, [{ email: "mia@merge.co" }]);
  const task = await done((await enrich({ leadIds: [m], provider: "apollo", providers: ["clearbit", "internal"], strategy: "merge" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.providersUsed).toEqual(["apollo", "clearbit", "internal"]);
  expect(task.creditsUsed).toBe(1);
  const byProvider = Object.fromEntries(task.outputs.changes.filter((c: any) => c.leadId === m).map((c: any) => [c.provider, c.fields]));
  // Apollo (primary) wins what it has; Clearbit adds what Apollo lacks.
  expect(byProvider.apollo).toMatchObject({ title: { to: "Chief Marketing Officer" }, company: { to: "Merge Co" }, employee_count: { to: 120 } });
  expect(byProvider.clearbit).toMatchObject({ city: { to: "Lisbon" }, country: { to: "Portugal" }, linkedin_url: { to: "https://www.linkedin.com/in/mia-merge" } });
  expect(byProvider.clearbit.title).toBeUndefined();
  expect(await lead(tenant, m)).toMatchObject({ title: "Chief Marketing Officer", seniority: "c_suite", company: "Merge Co", industry: "marketing & advertising", employee_count: 120, city: "Lisbon", country: "Portugal" });
});

test("internal: company data from the tenant's other leads at the same email domain, titles normalised, no network", async () => {
  const requestsBefore = apollo.seen.length + clearbit.seen.length + zoominfo.seen.length;
  await addLeads(tenant, [
    { email: "alfred@wayne.com", company: "Wayne Enterprises", domain: "wayne.com", industry: "Conglomerates", employee_count: 5000 },
    { email: "lucius@wayne.com", company: "Wayne Enterprises", industry: "Conglomerates" },
    { email: "intern@wayne.com", company: "Wayne Ent." },
  ]);
  const [bruce, solo] = await addLeads(tenant, [{ email: "bruce@wayne.com", title: "sr. software eng" }, { email: "someone@gmail.com", title: "ceo", company: "Own Co" }]);
  const task = await done((await enrich({ leadIds: [bruce, solo], provider: "internal" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds).toEqual([bruce, solo]);
  expect(await lead(tenant, bruce)).toMatchObject({ company: "Wayne Enterprises", domain: "wayne.com", industry: "Conglomerates", employee_count: 5000, title: "Senior Software Engineer", seniority: "senior" });
  expect(await lead(tenant, solo)).toMatchObject({ title: "CEO", seniority: "c_suite", company: "Own Co", domain: null });
  expect(apollo.seen.length + clearbit.seen.length + zoominfo.seen.length).toBe(requestsBefore);
});

test("a provider without a key fails the task clearly and releases the credits", async () => {
  const [l] = await addLeads(tenant, [{ email: "jane@acme.io" }]);
  const before = await tenantBalance(t.owner, tenant);
  // As if CLEARBIT_API_KEY were unset: the handler reads the stack's loaded config on each run.
  const saved = t.config.enrichment;
  t.config.enrichment = { ...saved, clearbit: { ...saved.clearbit, apiKey: undefined } };
  try {
    const { taskId } = await enrich({ leadIds: [l], provider: "apollo", providers: ["clearbit"], strategy: "fallback" });
    const task = await done(taskId);
    expect(task.status).toBe("failed");
    expect(task.error.code).toBe("provider_not_configured");
    expect(task.error.message).toMatch(/clearbit is not configured: set CLEARBIT_API_KEY/);
    expect(task.creditsUsed).toBe(0);
    const ledger = await t.owner.query("SELECT kind FROM credit_ledger WHERE task_id = $1 ORDER BY kind", [taskId]);
    expect(ledger.rows.map((r) => r.kind)).toEqual(["release", "reserve"]);
  } finally {
    t.config.enrichment = saved;
  }
  expect(await tenantBalance(t.owner, tenant)).toBe(before);
  expect((await lead(tenant, l)).enriched_at).toBeNull();
});

test("a tenant's settings override the environment's key", async () => {
  const other = await t.tenant(100);
  await t.owner.query(`UPDATE tenants SET settings = jsonb_build_object('enrichment', jsonb_build_object('apollo', jsonb_build_object('apiKey', $2::text))) WHERE id = $1`, [other, APOLLO_TENANT_KEY]);
  const [l] = await addLeads(other, [{ email: "tenant@tenantkey.io" }]);
  const tok = t.token(other);
  const task = await done((await enrich({ leadIds: [l], provider: "apollo" }, tok)).taskId, tok);
  expect(task.status).toBe("completed");
  expect(apollo.seen.find((s) => s.body?.email === "tenant@tenantkey.io")!.headers["x-api-key"]).toBe(APOLLO_TENANT_KEY);
  expect(await lead(other, l)).toMatchObject({ title: "Founder", seniority: "founder", company: "Tenant Key Ltd" });
});

test("another tenant's leads are never read, sent to a provider or written", async () => {
  const other = await t.tenant(100);
  const [theirs] = await addLeads(other, [{ email: "secret@acme.io", first_name: "Secret" }]);
  const [mine] = await addLeads(tenant, [{ email: "jane@acme.io" }]);
  const task = await done((await enrich({ leadIds: [theirs, mine], provider: "apollo" })).taskId);
  expect(task.status).toBe("completed");
  expect(task.outputs.enrichedLeadIds).toEqual([mine]);
  expect(task.outputs.failedLeadIds).toEqual([theirs]);
  expect(task.outputs.unknownLeadIds).toEqual([theirs]);
  expect(task.creditsUsed).toBe(1);
  expect(apollo.seen.some((s) => JSON.stringify(s.body ?? "").includes("secret@acme.io"))).toBe(false);
  expect(await lead(other, theirs)).toMatchObject({ title: null, company: null, enriched_at: null });
});

test("cancel mid-run aborts the provider calls and writes nothing more", async () => {
  const ids = await addLeads(tenant, Array.from({ length: 8 }, (_, i) => ({ email: `slow${i}@slowcorp.com` })));
  const before = await tenantBalance(t.owner, tenant);
  const { taskId } = await enrich({ leadIds: ids, provider: "apollo" });
  await t.waitForStatus(token, A, taskId, ["working"]);
  const until = Date.now() + 10_000;
  while (!apollo.seen.some((s) => String(s.body?.email ?? "").startsWith("slow")) && Date.now() < until) await sleep(20);
  const cancelled = await t.request("POST", `/agents/${A}/tasks/${taskId}/cancel`, { token, body: { reason: "stop" } });
  expect(cancelled.status).toBe(200);
  const sentAtCancel = apollo.seen.filter((s) => String(s.body?.email ?? "").startsWith("slow")).length;
  await sleep(2500);
  const final = await t.request("GET", `/agents/${A}/tasks/${taskId}`, { token });
  expect(final.body).toMatchObject({ status: "cancelled", creditsUsed: 0 });
  expect(sentAtCancel).toBeLessThan(8);
  // The lookups in flight were aborted and no further lead was sent.
  expect(apollo.seen.filter((s) => String(s.body?.email ?? "").startsWith("slow")).length).toBe(sentAtCancel);
  for (const id of ids) expect((await lead(tenant, id)).enriched_at).toBeNull();
  expect(await tenantBalance(t.owner, tenant)).toBe(before);
});
