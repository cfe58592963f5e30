/**
 * A local HTTP server standing in for a third party: `handle` answers each request, and every
 * request (method, path, query, headers, JSON body) is kept in `seen`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Seen {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: any;
  at: number;
}

export interface Fake {
  url: string;
  seen: Seen[];
  close(): Promise<void>;
}

/** A local HTTP server: `handle` answers each request (status, json body, headers). */
export async function fakeServer(handle: (req: Seen, res: http.ServerResponse) => void | Promise<void>): Promise<Fake> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (c) => (raw += c));
    req.on("end", async () => {
      const u = new URL(req.url ?? "/", "http://x");
      let body: any = null;
      try {
        body = raw ? JSON.parse(raw) : null;
      } catch {
        body = raw;
      }
      const s: Seen = { method: req.method ?? "GET", path: u.pathname, query: u.searchParams, headers: req.headers, body, at: Date.now() };
      seen.push(s);
      try {
        await handle(s, res);
      } catch (e) {
        if (!res.headersSent) res.writeHead(500).end(String(e));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

export const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(body === undefined ? "" : JSON.stringify(body));
};
