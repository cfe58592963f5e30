/**
 * Verification of DealScale webhook deliveries. The gateway signs every delivery with
 * `X-DealScale-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`, keyed with the target's secret
 * (its text exactly as the API returned it) over "<t>.<raw request body>". Pure code, shared by the
 * A2A Trigger (subscription deliveries) and the A2A Agent (release-and-resume callbacks).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'x-dealscale-signature';
export const DELIVERY_HEADER = 'x-dealscale-delivery';
export const EVENT_HEADER = 'x-dealscale-event';

/** How far (seconds) a delivery's timestamp may be from now, either way, before it counts as a replay. */
export const DEFAULT_SIGNATURE_TOLERANCE_SECONDS = 300;

const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/**
 * True when `header` carries a v1 signature of `rawBody` under `secret` whose timestamp is within
 * `toleranceSeconds` of `nowSeconds`. The body must be the bytes as received, before any parsing:
 * re-serialised JSON does not match. Several `v1=` entries are accepted (one has to match), so a
 * sender may sign with two secrets during a rotation.
 */
export function verifyDealScaleSignature(
	secret: string,
	rawBody: Buffer | string,
	header: string | string[] | null | undefined,
	nowSeconds: number = Math.floor(Date.now() / 1000),
	toleranceSeconds: number = DEFAULT_SIGNATURE_TOLERANCE_SECONDS,
): boolean {
	if (!secret || typeof header !== 'string' || header === '') return false;

	let timestamp: string | undefined;
	const signatures: string[] = [];
	for (const piece of header.split(',')) {
		const eq = piece.indexOf('=');
		if (eq <= 0) continue;
		const key = piece.slice(0, eq).trim();
		const value = piece.slice(eq + 1).trim();
		if (key === 't') {
			// Two timestamps make the signed message ambiguous.
			if (timestamp !== undefined) return false;
			timestamp = value;
		} else if (key === 'v1') {
			signatures.push(value);
		}
	}

	if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) return false;
	const t = Number(timestamp);
	if (!Number.isFinite(nowSeconds) || Math.abs(nowSeconds - t) > toleranceSeconds) return false;

	const expected = createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest();
	let matched = false;
	for (const signature of signatures) {
		if (!HEX_SHA256.test(signature)) continue;
		// Every candidate is compared, so the time taken does not reveal which one matched.
		if (timingSafeEqual(Buffer.from(signature, 'hex'), expected)) matched = true;
	}
	return matched;
}
