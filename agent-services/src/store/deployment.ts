/**
 * The deployment's identity, one id per database (migration deployment_identity), and the BullMQ
 * prefix derived from it: two deployments sharing a Redis never share queues unless an operator
 * gives both the same QUEUE_PREFIX, and then their jobs still tell them apart.
 */
import type { Pool } from "pg";

export async function readDeploymentId(pool: Pool): Promise<string> {
  const { rows } = await pool.query<{ deployment_id: string }>("SELECT deployment_id FROM deployment_identity");
  if (!rows[0]) throw new Error("deployment_identity is empty: run the migrations (npm run migrate)");
  return rows[0].deployment_id;
}

/** `{dealscale-<12 hex digits of the deployment id>}`: the braces keep it a Redis Cluster hash tag. */
export function defaultQueuePrefix(deploymentId: string): string {
  return `{dealscale-${deploymentId.replace(/-/g, "").slice(0, 12)}}`;
}
