/**
 * Audit rows for refused authentication, bounded (issue 10). Each 401 used to write its own row into
 * one audit chain, behind that chain's lock, so an unauthenticated flood serialised the gateway on
 * Postgres. Now:
 *
 * - every source address has a token bucket of refusals; past it the source gets 429 with
 *   Retry-After before anything is written;
 * - the first refusal of a kind (same chain, address, user agent, reason, claimed caller and tenant,
 *   target agent and method) in a window is audited at once, as before; identical ones that follow
 *   within the window, limited or not, are counted and written as one row with `details.count` when
 *   the window closes. The counts of a kind's rows add up to the refusals it had.
 *
 * State is per gateway process; the buckets and windows are bounded in number.
 */
import type { Logger as Pino } from "pino";

export interface Refusal {
  /** Which audit chain: the NULL-tenant one for 401s, the caller's tenant for a missing scope. */
  chain: string;
  ip: string | null;
  userAgent: string | null;
  reason: string;
  callingAgent: string | null;
  claimedTenant: string | null;
  targetAgent: string | null;
  method: string;
  path: string;
}

/** Writes one audit row for `count` identical refusals (count 1: a single one). */
export type RefusalWriter = (refusal: Refusal, details: { count: number; rateLimited: number; firstAt: string; lastAt: string; paths: string[] } | null) => Promise<void>;

export interface RefusalAuditSettings {
  /** Refusals per second a source address may cause before it gets 429. */
  perSecond: number;
  burst: number;
  /** How long identical refusals are gathered into one row. */
  windowMs: number;
  /** Bound on tracked addresses and open windows. */
  maxEntries?: number;
}

interface Window {
  refusal: Refusal;
  count: number;
  rateLimited: number;
  firstAt: number;
  lastAt: number;
  paths: Set<string>;
}

const MAX_PATHS = 5;

export class RefusalAuditor {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly windows = new Map<string, Window>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: RefusalWriter,
    private readonly settings: RefusalAuditSettings,
    private readonly log: Pino,
  ) {
    this.timer = setInterval(() => void this.flush(), settings.windowMs);
    this.timer.unref();
  }

  /**
   * Records a refusal. Resolves to the seconds the source must wait when it is over its rate (the
   * caller answers 429), or undefined after the refusal was audited or counted.
   */
  async refuse(refusal: Refusal, now = Date.now()): Promise<number | undefined> {
    const wait = this.take(refusal.ip ?? "unknown", now);
    const key = JSON.stringify([refusal.chain, refusal.ip, refusal.userAgent, refusal.reason, refusal.callingAgent, refusal.claimedTenant, refusal.targetAgent, refusal.method]);
    const open = this.windows.get(key);
    if (open) {
      open.count++;
      if (wait !== undefined) open.rateLimited++;
      open.lastAt = now;
      if (open.paths.size < MAX_PATHS) open.paths.add(refusal.path);
      return wait;
    }
    if (this.windows.size >= (this.settings.maxEntries ?? 10_000)) await this.flush();
    // A window counts the refusals not written yet: none when the first is written now, the first
    // itself when its source is over the rate.
    const limited = wait !== undefined;
    this.windows.set(key, { refusal, count: limited ? 1 : 0, rateLimited: limited ? 1 : 0, firstAt: now, lastAt: now, paths: new Set([refusal.path]) });
    if (limited) return wait;
    await this.write(refusal, null).catch((e) => this.log.warn({ err: (e as Error).message }, "could not audit a refused request"));
    return undefined;
  }

  /** Writes one row per window that counted repeats, and closes every window. */
  flush(): Promise<void> {
    const closing = [...this.windows.values()];
    this.windows.clear();
    this.sweepBuckets(Date.now());
    this.flushing = this.flushing.then(async () => {
      for (const w of closing) {
        if (w.count === 0) continue;
        const details = { count: w.count, rateLimited: w.rateLimited, firstAt: new Date(w.firstAt).toISOString(), lastAt: new Date(w.lastAt).toISOString(), paths: [...w.paths] };
        await this.write(w.refusal, details).catch((e) => this.log.warn({ err: (e as Error).message, count: w.count }, "could not audit repeated refused requests"));
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Takes a token from the source's bucket; the seconds to wait when there is none. */
  private take(source: string, now: number): number | undefined {
    const { perSecond, burst } = this.settings;
    let b = this.buckets.get(source);
    if (!b) {
      if (this.buckets.size >= (this.settings.maxEntries ?? 10_000)) this.sweepBuckets(now, true);
      b = { tokens: burst, at: now };
      this.buckets.set(source, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
  }

  /** Forgets sources whose bucket has refilled (all of them when `all`, under memory pressure). */
  private sweepBuckets(now: number, all = false): void {
    for (const [source, b] of this.buckets) {
      if (all || b.tokens + ((now - b.at) / 1000) * this.settings.perSecond >= this.settings.burst) this.buckets.delete(source);
    }
  }
}
