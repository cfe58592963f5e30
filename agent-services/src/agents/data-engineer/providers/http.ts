/**
 * HTTP plumbing shared by the provider adapters: per-request timeouts tied to the task's
 * AbortSignal, and rate limits honoured from the response headers the providers document:
 *
 * - `Retry-After` (seconds or an HTTP date, RFC 9110 §10.2.3) on 429 and 503;
 * - `X-RateLimit-Remaining` / `X-RateLimit-Reset` (Clearbit, ZoomInfo): when the window is used
 *   up, the next request waits for its reset (an epoch in seconds or ms, or seconds from now);
 * - Apollo's `x-minute-requests-left`, `x-hourly-requests-left`, `x-24-hour-requests-left`
 *   (docs.apollo.io "API rate limits"): when one reaches 0 the next request waits for that window.
 *
 * Every wait is bounded by WaitPolicy.maxWaitMs and ends early when the task is aborted; past the
 * bound the call fails with a retryable `provider_rate_limited` error instead of sleeping.
 */
import { ProviderError, type FetchFn, type ProviderName, type WaitPolicy } from "./types";

export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const abortableSleep: Sleep = (ms, signal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, Math.max(0, ms));
    signal.addEventListener("abort", onAbort, { once: true });
  });

/** Milliseconds to wait from a Retry-After value (delta-seconds or HTTP-date); undefined if absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null || value.trim() === "") return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.ceil(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** When an X-RateLimit-Reset value points: epoch seconds, epoch ms, or seconds from now. */
export function parseReset(value: string | null, now: number): number | undefined {
  if (value === null || !/^\d+(\.\d+)?$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  if (n > 1e12) return n; // epoch milliseconds
  if (n > 1e9) return n * 1000; // epoch seconds
  return now + n * 1000; // seconds until the window resets
}

const APOLLO_WINDOWS: [header: string, windowMs: number][] = [
  ["x-minute-requests-left", 60_000],
  ["x-hourly-requests-left", 3_600_000],
  ["x-24-hour-requests-left", 86_400_000],
];

/**
 * One per provider per task run, shared by its concurrent requests: remembers until when the
 * provider asked us to hold off.
 */
export class RateGate {
  private resumeAt = 0;

  constructor(
    private readonly provider: ProviderName,
    private readonly policy: WaitPolicy,
    private readonly sleep: Sleep = abortableSleep,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits until the provider's window allows another request, or fails if that is beyond the bound. */
  async ready(signal: AbortSignal): Promise<void> {
    const wait = this.resumeAt - this.now();
    if (wait <= 0) return;
    if (wait > this.policy.maxWaitMs) {
      throw new ProviderError(this.provider, "provider_rate_limited", `${this.provider} rate limit resets in ${Math.ceil(wait / 1000)} s, longer than the ${Math.ceil(this.policy.maxWaitMs / 1000)} s this task may wait`, true, 429);
    }
    await this.sleep(wait, signal);
  }

  /** Reads the rate-limit headers of a response. */
  observe(res: Response): void {
    const now = this.now();
    const h = res.headers;
    const holdUntil = (at: number) => {
      if (at > this.resumeAt) this.resumeAt = at;
    };
    if (h.get("x-ratelimit-remaining")?.trim() === "0") {
      const reset = parseReset(h.get("x-ratelimit-reset"), now);
      holdUntil(reset ?? now + 1_000);
    }
    for (const [header, windowMs] of APOLLO_WINDOWS) {
      // Apollo does not say when its window started, so assume the worst: a whole window from now.
      if (h.get(header)?.trim() === "0") holdUntil(now + windowMs);
    }
    if (res.status === 429 || res.status === 503) {
      const after = parseRetryAfter(h.get("retry-after"), now);
      if (after !== undefined) holdUntil(now + after);
    }
  }

  /** How long to wait before resending after a 429: Retry-After if given, else exponential from 1 s. */
  retryDelay(res: Response, attempt: number): number {
    return parseRetryAfter(res.headers.get("retry-after"), this.now()) ?? Math.min(1_000 * 2 ** attempt, 30_000);
  }
}

export interface HttpDeps {
  fetch: FetchFn;
  policy: WaitPolicy;
  gate: RateGate;
  sleep?: Sleep;
}

/**
 * Sends one request: waits for the rate gate, resends after 429 within the bounds, and turns
 * network errors and timeouts into retryable ProviderErrors. Other statuses are returned for the
 * adapter to interpret.
 */
export async function send(provider: ProviderName, deps: HttpDeps, url: string, init: RequestInit, signal: AbortSignal): Promise<Response> {
  const sleep = deps.sleep ?? abortableSleep;
  for (let attempt = 0; ; attempt++) {
    await deps.gate.ready(signal);
    const timeout = AbortSignal.timeout(deps.policy.timeoutMs);
    let res: Response;
    try {
      res = await deps.fetch(url, { ...init, signal: AbortSignal.any([signal, timeout]) });
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      const timedOut = timeout.aborted;
      throw new ProviderError(provider, "provider_error", timedOut ? `${provider} did not answer within ${deps.policy.timeoutMs} ms` : `${provider} could not be reached: ${(e as Error).message}`, true);
    }
    deps.gate.observe(res);
    if (res.status !== 429) return res;
    await res.body?.cancel().catch(() => undefined);
    const delay = deps.gate.retryDelay(res, attempt);
    if (attempt >= deps.policy.maxRateLimitRetries || delay > deps.policy.maxWaitMs) {
      throw new ProviderError(provider, "provider_rate_limited", `${provider} rate limit (429): retry after ${Math.ceil(delay / 1000)} s${attempt >= deps.policy.maxRateLimitRetries ? ` after ${attempt + 1} attempts` : ", longer than this task may wait"}`, true, 429);
    }
    await sleep(delay, signal);
  }
}

/** Reads a JSON body; a body that is not JSON is a provider error. */
export async function readJson(provider: ProviderName, res: Response): Promise<any> {
  const text = await res.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    throw new ProviderError(provider, "provider_error", `${provider} answered ${res.status} with a body that is not JSON`, res.status >= 500, res.status);
  }
}

/** The ProviderError for a status the adapter does not handle itself. */
export async function statusError(provider: ProviderName, res: Response): Promise<ProviderError> {
  let detail = "";
  try {
    detail = (await res.text()).slice(0, 200);
  } catch {
    /* no body */
  }
  const suffix = detail ? `: ${detail}` : "";
  if (res.status === 401 || res.status === 403) {
    return new ProviderError(provider, "provider_auth_failed", `${provider} refused the credentials (${res.status})${suffix}`, false, res.status);
  }
  if (res.status >= 500) return new ProviderError(provider, "provider_error", `${provider} failed (${res.status})${suffix}`, true, res.status);
  return new ProviderError(provider, "provider_rejected", `${provider} rejected the request (${res.status})${suffix}`, false, res.status);
}

/** Joins a base URL (with or without a path or trailing slash) and a path. */
export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, "") + path;
}
