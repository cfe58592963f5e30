/**
 * HTTP servers the e2e run needs besides n8n and the gateway:
 *
 * - a ZoomInfo-shaped enrichment API (POST /authenticate -> {jwt}; POST /enrich/contact and
 *   /enrich/company with the JWT, answering ZoomInfo's envelope). No ZoomInfo account is reachable
 *   from CI, so the gateway's ZOOMINFO_BASE_URL points here, as agent-services/test/enrich.test.ts
 *   does; Apollo and Clearbit stay unconfigured and fail with provider_not_configured, which is
 *   what the fallback and best-effort workflows are about.
 * - a receiver for the notification the A2A Trigger workflow posts (its Notify node's URL).
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { onCleanup } from "./util.mjs";

async function listen(handler) {
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", () => {
      let body = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      Promise.resolve(handler({ method: req.method, path: new URL(req.url, "http://x").pathname, headers: req.headers, body }, res)).catch((e) => {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      });
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  onCleanup("stop HTTP receiver", () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(resolve);
  }));
  return `http://127.0.0.1:${server.address().port}`;
}

const json = (res, status, body) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/**
 * The returned `directory` maps an email address (lower case) to {contact, company}: the ZoomInfo
 * contact and company records it answers with; add entries to make leads known. Every request waits
 * `delayMs` first, like a remote API does.
 */
export async function startZoomInfo({ username, password, delayMs = 0 }) {
  const jwts = new Set();
  const directory = new Map();
  const url = await listen(async (req, res) => {
    if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
    if (req.method === "POST" && req.path === "/authenticate") {
      if (req.body?.username !== username || req.body?.password !== password) return json(res, 401, { error: "Invalid username or password" });
      const jwt = `eyJ.${randomBytes(8).toString("hex")}.sig`;
      jwts.add(jwt);
      return json(res, 200, { jwt });
    }
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (!token || !jwts.has(token)) return json(res, 401, { error: "invalid or missing JWT" });
    const envelope = (input, record) => ({
      success: true,
      data: { outputFields: [req.body?.outputFields ?? []], result: [{ input, data: record ? [record] : [], matchStatus: record ? "FULL_MATCH" : "NO_MATCH" }] },
    });
    if (req.method === "POST" && req.path === "/enrich/contact") {
      const input = req.body?.matchPersonInput?.[0] ?? {};
      return json(res, 200, envelope(input, directory.get(String(input.emailAddress ?? "").toLowerCase())?.contact));
    }
    if (req.method === "POST" && req.path === "/enrich/company") {
      const input = req.body?.matchCompanyInput?.[0] ?? {};
      const company = [...directory.values()].map((e) => e.company).find((c) => c.id === input.companyId);
      return json(res, 200, envelope(input, company));
    }
    json(res, 404, { error: "no route" });
  });
  return { url, directory };
}

/** Keeps every JSON body POSTed to it; answers 200. */
export async function startReceiver() {
  const received = [];
  const url = await listen((req, res) => {
    received.push({ at: Date.now(), headers: req.headers, body: req.body });
    json(res, 200, { ok: true });
  });
  return { url: `${url}/notify`, received };
}
