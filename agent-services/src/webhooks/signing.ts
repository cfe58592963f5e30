/**
 * Webhook signatures: `X-DealScale-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where the HMAC
 * key is the target's secret (its UTF-8 text, as returned by the API) and the message is
 * "<t>.<raw request body>". The timestamp is signed too, so a receiver that refuses old timestamps
 * is safe from replays. Pure code: the receiver side (`verifySignature`) is what the README shows.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "X-DealScale-Signature";
export const EVENT_HEADER = "X-DealScale-Event";
export const DELIVERY_HEADER = "X-DealScale-Delivery";
export const A2A_TOKEN_HEADER = "X-A2A-Notification-Token";

/** 32 random bytes, base64url: a subscription's, push config's or tenant's signing secret. */
export function newSecret(): string {
  return randomBytes(32).toString("base64url");
}

export function signatureHeader(secret: string, rawBody: string, timestampSeconds = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac("sha256", secret).update(`${timestampSeconds}.${rawBody}`).digest("hex");
  return `t=${timestampSeconds},v1=${mac}`;
}

/**
 * Receiver side: true when `header` carries a v1 signature of `rawBody` under `secret` with a
 * timestamp no older (or newer) than `toleranceSeconds`.
 */
export function verifySignature(secret: string, rawBody: string | Buffer, header: string | null | undefined, toleranceSeconds = 300, nowSeconds = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  const parts = new Map<string, string[]>();
  for (const piece of header.split(",")) {
    const i = piece.indexOf("=");
    if (i <= 0) continue;
    const k = piece.slice(0, i).trim();
    parts.set(k, [...(parts.get(k) ?? []), piece.slice(i + 1).trim()]);
  }
  const t = Number(parts.get("t")?.[0]);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;
  const expected = createHmac("sha256", secret).update(`${t}.`).update(rawBody).digest();
  return (parts.get("v1") ?? []).some((sig) => {
    const given = Buffer.from(sig, "hex");
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}

/**
 * The delivery id of one (task, target) pair: the same on every attempt and on a duplicate
 * enqueue, so receivers can drop repeats. A UUID-shaped digest of the job id.
 */
export function deliveryId(jobId: string): string {
  const h = createHash("sha256").update(`dealscale-delivery:${jobId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
