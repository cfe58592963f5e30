/**
 * Apollo, Clearbit and ZoomInfo as local HTTP servers that know every person: each answers for
 * any email address with a title, a company and a city derived from it, in the provider's own
 * response shape (see providers/*.ts). `down` makes one answer 503 to everything.
 */
import type { ServerResponse } from "node:http";
import { fakeServer, json, type Seen } from "./fake-http";

export interface ProviderFakes {
  env: Record<string, string>;
  down: Set<Provider>;
  close(): Promise<void>;
}

const KEYS = { apollo: "apollo-fake-key", clearbit: "sk_clearbit_fake", ziUser: "zi@fake.test", ziPass: "zi-fake-password" };

function company(email: string) {
  const domain = email.split("@")[1] ?? "example.com";
  const name = domain.split(".")[0].replace(/[-_]/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
  return { domain, name };
}

type Provider = "apollo" | "clearbit" | "zoominfo";

/** A provider's fake: 503 to everything while the provider is `down`, else `handle`. */
function serve(name: Provider, fakes: ProviderFakes, handle: (req: Seen, res: ServerResponse) => void) {
  return fakeServer((req, res) => {
    if (fakes.down.has(name)) return json(res, 503, { error: "service unavailable" });
    handle(req, res);
  });
}

export async function startProviderFakes(): Promise<ProviderFakes> {
  const fakes: ProviderFakes = { env: {}, down: new Set(), close: async () => undefined };
  const apollo = await serve("apollo", fakes, ({ path, body, headers }, res) => {
    if (headers["x-api-key"] !== KEYS.apollo) return json(res, 401, { error: "Invalid access credentials." });
    if (path === "/api/v1/people/match") {
      const email = String(body?.email ?? "");
      const c = company(email);
      return json(res, 200, { person: { id: `p-${email}`, title: "VP of Sales", seniority: "vp", city: "Boston", country: "United States", organization: { name: c.name, primary_domain: c.domain, industry: "computer software", estimated_num_employees: 120 } } });
    }
    json(res, 404, { error: "not found" });
  });
  const clearbit = await serve("clearbit", fakes, ({ path, query: q, headers }, res) => {
    if (headers.authorization !== `Bearer ${KEYS.clearbit}`) return json(res, 401, { error: { type: "auth_required" } });
    if (path === "/v2/combined/find") {
      const email = q.get("email") ?? "";
      const c = company(email);
      return json(res, 200, {
        person: { id: `cb-${email}`, employment: { title: "Head of Growth", seniority: "director", name: c.name, domain: c.domain }, geo: { city: "Berlin", country: "Germany" } },
        company: { id: `cb-${c.domain}`, name: c.name, domain: c.domain, category: { industry: "Software" }, metrics: { employees: 300 } },
      });
    }
    json(res, 404, { error: { type: "unknown_record" } });
  });
  const zoominfo = await serve("zoominfo", fakes, ({ path, body, headers }, res) => {
    if (path === "/authenticate") {
      return body?.username === KEYS.ziUser && body?.password === KEYS.ziPass ? json(res, 200, { jwt: "eyJ.fake.sig" }) : json(res, 401, { error: "Invalid username or password" });
    }
    if (headers.authorization !== "Bearer eyJ.fake.sig") return json(res, 401, { error: "invalid JWT" });
    if (path === "/enrich/contact") {
      const input = body?.matchPersonInput?.[0] ?? {};
      const c = company(String(input.emailAddress ?? ""));
      return json(res, 200, { success: true, data: { outputFields: [body?.outputFields], result: [{ input, matchStatus: "FULL_MATCH", data: [{ id: 7, email: input.emailAddress, jobTitle: "Director of Research", managementLevel: ["Director"], city: "Chicago", country: "United States", companyName: c.name }] }] } });
    }
    if (path === "/enrich/company") {
      return json(res, 200, { success: true, data: { outputFields: [body?.outputFields], result: [{ input: body?.matchCompanyInput?.[0] ?? {}, matchStatus: "NO_MATCH", data: [] }] } });
    }
    json(res, 404, { error: "no route" });
  });
  fakes.env = {
    APOLLO_API_KEY: KEYS.apollo,
    APOLLO_BASE_URL: apollo.url,
    CLEARBIT_API_KEY: KEYS.clearbit,
    CLEARBIT_BASE_URL: clearbit.url,
    ZOOMINFO_USERNAME: KEYS.ziUser,
    ZOOMINFO_PASSWORD: KEYS.ziPass,
    ZOOMINFO_BASE_URL: zoominfo.url,
  };
  fakes.close = async () => {
    await Promise.all([apollo, clearbit, zoominfo].map((fake) => fake.close()));
  };
  return fakes;
}
