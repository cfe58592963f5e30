/**
 * Per tenant and agent rate limits from the agent card (`rateLimit: {requestsPerMinute, burstSize}`),
 * kept in Redis so every gateway replica draws from the same bucket.
 *
 * The shape is a token bucket: a tenant may send `burstSize` requests to an agent at once, and the
 * bucket refills at `requestsPerMinute`. rate-limiter-flexible's limiters are fixed windows
 * ("points per duration"), and BurstyRateLimiter adds a second fixed window on top: neither gives
 * that shape (a fixed window of `burstSize` points lets a client send up to twice the burst across a
 * window edge and then makes it wait for the whole window; BurstyRateLimiter with rpm/60 s allows rpm
 * + burst at once). So we keep RateLimiterRedis (its ioredis handling, atomic Lua call, the
 * RateLimiterRes protocol, the not-ready short circuit) and swap its increment script, through the
 * documented `customIncrTtlLuaScript` option, for a GCRA token bucket: one Redis key per
 * tenant+agent holding the "theoretical arrival time" of the next request, one atomic round trip,
 * exact refill (a token every 60/rpm s, not a whole window), and Retry-After is the time until the
 * next token. `points` = burstSize (the bucket), `duration` = seconds to refill an empty bucket.
 *
 * Redis down: requests are let through (fail-open) with a throttled warning. Creating a task with
 * Redis down already succeeds (the reconciler enqueues it later); refusing every request with 503
 * because the limiter's store is away would turn a degraded dependency into an outage. The limit is
 * a fairness guard, not a security boundary (auth and credits still apply).
 */
import Redis from "ioredis";
import { RateLimiterRedis, RateLimiterRes } from "rate-limiter-flexible";
import { ServiceError } from "../tasks/errors";
import type { WarnLogger } from "../lib/logger";
import { withTimeout } from "../lib/with-timeout";

/**
 * GCRA over the arguments RateLimiterRedis passes its script: KEYS[1] the bucket, ARGV[1] tokens to
 * take, ARGV[2] key TTL in seconds (unused: the script sets its own), ARGV[3] the limiter's points
 * (burstSize), ARGV[4] its duration (seconds to refill the whole bucket). It answers
 * {consumed, msBeforeNext} as the library expects: consumed > points means refused, and then
 * msBeforeNext is how long until enough tokens are back. A refused request takes nothing.
 */
const GCRA_SCRIPT = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local cost = tonumber(ARGV[1])
local capacity = tonumber(ARGV[3])
local interval = tonumber(ARGV[4]) * 1000 / capacity
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local new_tat = tat + cost * interval
local horizon = capacity * interval
if new_tat - now > horizon + 0.001 then
  return {capacity + cost, math.ceil(new_tat - now - horizon)}
end
local ttl = math.ceil(new_tat - now)
redis.call('SET', KEYS[1], new_tat, 'PX', ttl)
return {math.min(capacity, math.ceil((new_tat - now) / interval - 0.000001)), ttl}
`;

export interface RateLimitSpec {
  requestsPerMinute: number;
  burstSize: number;
}

export interface RateLimitOptions {
  /** Keeps deployments that share a Redis apart; replicas of one deployment must use the same. */
  keyPrefix: string;
  /** The card's limit of an agent; undefined for unknown agents (their routes answer 404). */
  limitOf: (agentId: string) => RateLimitSpec | undefined;
  log: WarnLogger;
  /** A Redis that is connected but slow must not hold requests: past this the request goes through. */
  timeoutMs?: number;
}

export class AgentRateLimiter {
  private readonly redis: Redis;
  private readonly limiters = new Map<string, { limiter: RateLimiterRedis; spec: RateLimitSpec; ttlSeconds: number }>();
  private readonly timeoutMs: number;
  private failOpenSince = 0;
  private failOpenCount = 0;

  constructor(redisUrl: string, private readonly options: RateLimitOptions) {
    // No offline queue: while Redis is away a call fails at once (and the request goes through)
    // instead of waiting for a reconnect.
    // Auto-pipelining: the checks of one event-loop turn go out in one write.
    this.redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true });
    this.redis.on("error", () => undefined);
    this.timeoutMs = options.timeoutMs ?? 500;
  }

  /** Waits (bounded) for the first connection, so the first requests are counted; never throws. */
  async ready(timeoutMs = 2000): Promise<void> {
    if (this.redis.status === "ready") return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.redis.off("ready", done);
        this.redis.off("error", done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.redis.once("ready", done);
      this.redis.once("error", done);
    });
  }

  /**
   * Takes one request from the tenant's bucket for this agent. Throws ServiceError 429
   * `rate_limited` with `details.retryAfterSeconds` (integer >= 1; the gateway sends it as
   * Retry-After) when the bucket is empty. Unknown agents are not limited here.
   */
  async consume(tenantId: string, agentId: string): Promise<void> {
    const entry = this.limiterFor(agentId);
    if (!entry) return;
    try {
      await withTimeout(entry.limiter.consume(tenantId, 1, { customDuration: entry.ttlSeconds }), this.timeoutMs, "rate limiter");
    } catch (e) {
      if (e instanceof RateLimiterRes) {
        const retryAfterSeconds = Math.max(1, Math.ceil(e.msBeforeNext / 1000));
        throw new ServiceError(
          429,
          "rate_limited",
          `rate limit of agent "${agentId}" exceeded (${entry.spec.requestsPerMinute} requests per minute, bursts of ${entry.spec.burstSize}); retry in ${retryAfterSeconds} s`,
          { retryAfterSeconds, requestsPerMinute: entry.spec.requestsPerMinute, burstSize: entry.spec.burstSize },
        );
      }
      this.failOpen(agentId, e);
    }
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  private limiterFor(agentId: string) {
    let entry = this.limiters.get(agentId);
    if (entry) return entry;
    const spec = this.options.limitOf(agentId);
    if (!spec || !(spec.requestsPerMinute > 0) || !(spec.burstSize > 0)) return undefined;
    const refillSeconds = (spec.burstSize * 60) / spec.requestsPerMinute;
    entry = {
      spec,
      // The library only runs the script for a whole number of seconds > 0; the script sets the real TTL.
      ttlSeconds: Math.max(1, Math.ceil(refillSeconds)),
      limiter: new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: `${this.options.keyPrefix}:${agentId}`,
        points: spec.burstSize,
        duration: refillSeconds,
        rejectIfRedisNotReady: true,
        customIncrTtlLuaScript: GCRA_SCRIPT,
      }),
    };
    this.limiters.set(agentId, entry);
    return entry;
  }

  /** One warning per 30 s while the store is away, with how many requests went through unchecked. */
  private failOpen(agentId: string, e: unknown): void {
    this.failOpenCount++;
    const now = Date.now();
    if (now - this.failOpenSince < 30_000) return;
    this.options.log.warn(
      { err: (e as Error)?.message ?? String(e), agentId, unchecked: this.failOpenCount },
      "rate limiter unavailable (Redis); letting requests through",
    );
    this.failOpenSince = now;
    this.failOpenCount = 0;
  }
}
