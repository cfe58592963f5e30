/** Readiness: the process is ready only when Postgres and Redis both answer, each within a bound. */
import type { Router } from "express";
import type { Pool } from "pg";

const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref())]);

export async function probeReadiness(pool: Pool, pingRedis: () => Promise<boolean>, timeoutMs = 2000) {
  const [pg, redis] = await Promise.allSettled([within(pool.query("SELECT 1"), timeoutMs), within(pingRedis(), timeoutMs)]);
  const checks = {
    postgres: pg.status === "fulfilled" ? "ok" : `down: ${(pg.reason as Error).message}`,
    redis: redis.status === "fulfilled" && redis.value ? "ok" : `down: ${redis.status === "rejected" ? (redis.reason as Error).message : "no PONG"}`,
  };
  return { ready: checks.postgres === "ok" && checks.redis === "ok", checks };
}

/** /health (the process is up) and /ready (its dependencies answer), for the gateway and workers alike. */
export function mountHealth(app: Router, pool: Pool, pingRedis: () => Promise<boolean>): void {
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", async (_req, res) => {
    const r = await probeReadiness(pool, pingRedis);
    res.status(r.ready ? 200 : 503).json(r);
  });
}
