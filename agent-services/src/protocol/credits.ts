/**
 * Credits are exact: stored and computed as integer milli-credits (1 credit = 1000), shown to users
 * as decimal numbers with at most three places. No float ever reaches the ledger.
 */
export const MILLI = 1000n;

export function creditsToMilli(credits: number | string): bigint {
  const text = typeof credits === "number" ? credits.toString() : credits.trim();
  const m = /^(-)?(\d+)(?:\.(\d{1,3}))?$/.exec(text);
  if (!m) throw new RangeError(`credits must be a decimal with at most 3 places, got "${credits}"`);
  const whole = BigInt(m[2]) * MILLI + BigInt((m[3] ?? "").padEnd(3, "0"));
  return m[1] ? -whole : whole;
}

export function milliToCredits(milli: bigint | string | number): number {
  const v = BigInt(milli);
  return Number(v) / 1000;
}
