/**
 * Signed unsubscribe tokens: who (tenant, lead) and from which campaign, HMAC-SHA256 with a key
 * derived from A2A_JWT_SECRET (never the secret itself). No expiry: an unsubscribe link in an old
 * mail must keep working. Pure code (node:crypto only).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export interface UnsubscribeClaims {
  tenantId: string;
  leadId: string;
  campaignId: string;
}

/** The key for unsubscribe tokens, derived from the service secret with a fixed label. */
export function deriveUnsubscribeKey(secret: string): Buffer {
  return createHmac("sha256", secret).update("dealscale/campaign-unsubscribe/v1").digest();
}

const b64 = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeClaims): string {
  const payload = b64(JSON.stringify({ t: claims.tenantId, l: claims.leadId, c: claims.campaignId }));
  const mac = createHmac("sha256", key).update(payload).digest();
  return `${payload}.${b64(mac)}`;
}

/** The claims of a valid token; undefined when it is malformed or its signature does not match. */
export function verifyUnsubscribeToken(key: Buffer, token: unknown): UnsubscribeClaims | undefined {
  if (typeof token !== "string" || token.length > 1000) return undefined;
  const [payload, mac, rest] = token.split(".");
  if (!payload || !mac || rest !== undefined) return undefined;
  const expected = createHmac("sha256", key).update(payload).digest();
  const given = Buffer.from(mac, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  try {
    const p = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { t?: unknown; l?: unknown; c?: unknown };
    if (typeof p.t !== "string" || typeof p.l !== "string" || typeof p.c !== "string") return undefined;
    return { tenantId: p.t, leadId: p.l, campaignId: p.c };
  } catch {
    return undefined;
  }
}
