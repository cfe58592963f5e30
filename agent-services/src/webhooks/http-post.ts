/**
 * One webhook POST: the URL policy applied at connect time (the socket only ever reaches addresses
 * that passed it), no redirects followed, no connection reuse, a hard deadline per attempt.
 */
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import { checkWebhookUrl, literalAddress, parseWebhookUrl, pinnedLookup, type Resolver, type UrlPolicy, systemResolver } from "../lib/url-policy";

export interface PostOptions {
  policy: UrlPolicy;
  timeoutMs: number;
  signal?: AbortSignal;
  resolve?: Resolver;
}

/** How much of a receiver's answer is read (and thrown away) before the socket is closed. */
const MAX_RESPONSE_BYTES = 64 * 1024;

/** Resolves with the status code once the response head arrives; rejects on network errors, timeout and URL policy refusals (UrlPolicyError). */
export async function postWebhook(rawUrl: string, body: string, headers: Record<string, string>, opts: PostOptions): Promise<{ status: number }> {
  const url = parseWebhookUrl(rawUrl);
  // An IP-literal host is never looked up, so the pinned lookup below would not see it: check it here.
  if (literalAddress(url)) await checkWebhookUrl(rawUrl, opts.policy);
  const lookup = pinnedLookup(opts.policy, opts.resolve ?? systemResolver) as unknown as LookupFunction;
  const client = url.protocol === "https:" ? https : http;

  return new Promise((resolve, reject) => {
    let settled = false;
    const req = client.request(url, {
      method: "POST",
      headers: { ...headers, "content-length": String(Buffer.byteLength(body)) },
      lookup,
      agent: false,
      signal: opts.signal,
    });
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error(`no response within ${opts.timeoutMs} ms`), { code: "ETIMEDOUT" }));
    }, opts.timeoutMs);
    timer.unref();
    req.on("response", (res) => {
      settled = true;
      resolve({ status: res.statusCode ?? 0 });
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_RESPONSE_BYTES) res.destroy();
      });
      res.on("close", () => clearTimeout(timer));
      res.on("error", () => undefined);
    });
    req.on("error", (err) => {
      clearTimeout(timer);
      if (!settled) reject(err);
    });
    req.end(body);
  });
}
