/**
 * Apollo, Clearbit and ZoomInfo as local HTTP servers that know every person: each answers for
 * any email address with a title, a company and a city derived from it, in the provider's own
 * response shape (see providers/*.ts). `down` makes one answer 503 to everything.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ProviderFakes {
  env: Record<string, string>;
  down: Set<"apollo" | "clearbit" | "zoominfo">;
  calls: Record<"apollo" | "clearbit" | "zoominfo", number>;
  close(): Promise<void>;
}

const KEYS = { apollo: "apollo-fake-key", clearbit: "sk_clearbit_fake", ziUser: "zi@fake.test", ziPass: "zi-fake-password" };

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function company(email: string) {
  const domain = email.split("@")[1] ?? "example.com";
  const name = domain.split(".")[0].replace(/[-_]/g, " ").replace(/\b\w/g, (c) => c.toUpperCase());
  return { domain, name };
}

async function serve(name: keyof ProviderFakes["calls"], fakes: ProviderFakes, handle: (path: string, query: URLSearchParams, body: any, headers: http.IncomingHttpHeaders, res: http.ServerResponse) => void) {
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      fakes.calls[name]++;
      if (fakes.down.has(name)) return json(res, 503, { error: "service unavailable" });
      const u = new URL(req.url ?? "/", "http://x");
      let body: any = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      handle(u.pathname, u.searchParams, body, req.headers, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

export async function startProviderFakes(): Promise<ProviderFakes> {
  const fakes: ProviderFakes = { env: {}, down: new Set(), calls: { apollo: 0, clearbit: 0, zoominfo: 0 }, close: async () => undefined };
  const apollo = await serve("apollo", fakes, (path, _q, body, headers, res) => {
    if (headers["x-api-key"] !== KEYS.apollo) return json(res, 401, { error: "Invalid access credentials." });
    if (path === "/api/v1/people/match") {
      const email = String(body?.email ?? "");
      const c = company(email);
      return json(res, 200, { person: { id: `p-${email}`, title: "VP of Sales", seniority: "vp", city: "Boston", country: "United States", organization: { name: c.name, primary_domain: c.domain, industry: "computer software", estimated_num_employees: 120 } } });
    }
    json(res, 404, { error: "not found" });
  });
  const clearbit = await serve("clearbit", fakes, (path, q, _b, headers, res) => {
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
  const zoominfo = await serve("zoominfo", fakes, (path, _q, body, headers, res) => {
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
  const servers = [apollo, clearbit, zoominfo];
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
    await Promise.all(servers.map(({ server }) => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    })));
  };
  return fakes;
}
