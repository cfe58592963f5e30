/**
 * Where webhooks and push notifications may be sent. A tenant names the URL, so without a policy it
 * could aim the service at internal addresses (the cloud metadata service, Redis, an admin port).
 * Only http(s) URLs whose host resolves to public unicast addresses pass: loopback, private,
 * link-local (169.254/16, cloud metadata), carrier-grade NAT, unique-local and link-local IPv6,
 * unspecified, multicast, broadcast and reserved ranges are refused.
 *
 * The check runs when a URL is registered (an early 400) and again at delivery, where the connection
 * is pinned to the addresses that were checked (the `lookup` hook below), so a DNS answer that
 * changes between check and connect (DNS rebinding) cannot reach an internal address.
 *
 * `allowPrivate` (WEBHOOK_ALLOW_PRIVATE, development and tests) skips the address check; the scheme
 * check always applies. `allowHosts` (WEBHOOK_ALLOW_HOSTS) lets operators name internal receivers
 * (an n8n inside the cluster) by exact host name or by address range.
 */
import { promises as dns, type LookupAddress } from "node:dns";
import ipaddr from "ipaddr.js";

export interface UrlPolicy {
  allowPrivate: boolean;
  /** Exact host names (lower case) allowed whatever they resolve to. */
  allowHostNames: Set<string>;
  /** Address ranges allowed even though they are not public. */
  allowRanges: [ipaddr.IPv4 | ipaddr.IPv6, number][];
}

export type Resolver = (host: string) => Promise<LookupAddress[]>;

export const MAX_URL_LENGTH = 2048;

export class UrlPolicyError extends Error {
  constructor(
    message: string,
    public readonly reason: "syntax" | "scheme" | "address" | "unresolvable",
  ) {
    super(message);
    this.name = "UrlPolicyError";
  }
}

/** Builds a policy; `allow` entries are host names or IP addresses / CIDR ranges. */
export function makeUrlPolicy(opts: { allowPrivate: boolean; allow?: string[] }): UrlPolicy {
  const policy: UrlPolicy = { allowPrivate: opts.allowPrivate, allowHostNames: new Set(), allowRanges: [] };
  for (const raw of opts.allow ?? []) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const range = parseRange(entry);
    if (range) policy.allowRanges.push(range);
    else policy.allowHostNames.add(entry);
  }
  return policy;
}

/** An allow-list entry as an address range, or undefined when it is a host name. */
export function parseRange(entry: string): [ipaddr.IPv4 | ipaddr.IPv6, number] | undefined {
  if (ipaddr.isValidCIDR(entry)) return ipaddr.parseCIDR(entry);
  if (ipaddr.isValid(entry)) {
    const a = ipaddr.parse(entry);
    return [a, a.kind() === "ipv4" ? 32 : 128];
  }
  return undefined;
}

/**
 * The decision for one address: only public unicast passes. Pure, so tests check ranges without
 * sending anything anywhere. IPv4-mapped IPv6 (::ffff:10.0.0.1) is judged as the IPv4 address;
 * NAT64, 6to4 and Teredo prefixes, which can tunnel to any IPv4 address, are refused.
 */
export function addressVerdict(address: string, policy?: UrlPolicy): { allowed: boolean; range: string } {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.process(address.replace(/^\[|\]$/g, ""));
  } catch {
    return { allowed: false, range: "invalid" };
  }
  const range = ip.range();
  if (range === "unicast") return { allowed: true, range };
  if (policy?.allowRanges.some(([net, bits]) => net.kind() === ip.kind() && ip.match(net, bits))) return { allowed: true, range };
  return { allowed: false, range };
}

/** Checks scheme and shape only; no DNS. Throws UrlPolicyError. */
export function parseWebhookUrl(raw: unknown): URL {
  if (typeof raw !== "string" || !raw) throw new UrlPolicyError("must be an http(s) URL", "syntax");
  if (raw.length > MAX_URL_LENGTH) throw new UrlPolicyError(`must be at most ${MAX_URL_LENGTH} characters`, "syntax");
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlPolicyError("is not a valid URL", "syntax");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UrlPolicyError(`must use http or https, not ${url.protocol.replace(/:$/, "")}`, "scheme");
  if (!url.hostname) throw new UrlPolicyError("has no host", "syntax");
  return url;
}

/** The URL's host as an address when it is an IP literal ("[::1]" -> "::1"), else undefined. */
export function literalAddress(url: URL): string | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return ipaddr.isValid(host) ? host : undefined;
}

function hostAllowed(url: URL, policy: UrlPolicy): boolean {
  return policy.allowPrivate || policy.allowHostNames.has(url.hostname.toLowerCase());
}

export const systemResolver: Resolver = (host) => dns.lookup(host, { all: true, verbatim: true });

/** Checks every resolved address; throws UrlPolicyError naming the first refused range. */
export function assertAddressesAllowed(host: string, addresses: LookupAddress[], policy: UrlPolicy): void {
  if (!addresses.length) throw new UrlPolicyError(`host "${host}" does not resolve`, "unresolvable");
  for (const a of addresses) {
    const v = addressVerdict(a.address, policy);
    if (!v.allowed) throw new UrlPolicyError(`host "${host}" resolves to a ${describeRange(v.range)} address, which webhooks may not reach`, "address");
  }
}

/**
 * The full check: scheme, then (unless the policy allows the host outright) every address the host
 * resolves to. Used when a URL is registered.
 */
export async function checkWebhookUrl(raw: unknown, policy: UrlPolicy, resolve: Resolver = systemResolver): Promise<URL> {
  const url = parseWebhookUrl(raw);
  if (hostAllowed(url, policy)) return url;
  const literal = literalAddress(url);
  if (literal) {
    assertAddressesAllowed(url.hostname, [{ address: literal, family: literal.includes(":") ? 6 : 4 }], policy);
    return url;
  }
  let addresses: LookupAddress[];
  try {
    addresses = await resolve(url.hostname);
  } catch (e) {
    throw new UrlPolicyError(`host "${url.hostname}" does not resolve (${(e as { code?: string }).code ?? (e as Error).message})`, "unresolvable");
  }
  assertAddressesAllowed(url.hostname, addresses, policy);
  return url;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http.request / net.connect that resolves the host, refuses the connection unless
 * every address passes the policy, and hands the socket exactly those addresses: the check and the
 * connect see the same DNS answer. IP-literal hosts never reach a lookup; check them with
 * checkWebhookUrl before connecting.
 */
export function pinnedLookup(policy: UrlPolicy, resolve: Resolver = systemResolver) {
  return (hostname: string, options: { all?: boolean } | number | undefined, callback: LookupCallback): void => {
    const all = typeof options === "object" && options !== null && options.all === true;
    const allowedOutright = policy.allowPrivate || policy.allowHostNames.has(hostname.toLowerCase());
    resolve(hostname).then(
      (addresses) => {
        try {
          if (!allowedOutright) assertAddressesAllowed(hostname, addresses, policy);
          else if (!addresses.length) throw new UrlPolicyError(`host "${hostname}" does not resolve`, "unresolvable");
        } catch (e) {
          callback(Object.assign(e as Error, { code: "EWEBHOOKPOLICY" }) as NodeJS.ErrnoException, all ? [] : "", undefined);
          return;
        }
        if (all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      },
      (err: NodeJS.ErrnoException) => callback(err, all ? [] : "", undefined),
    );
  };
}

function describeRange(range: string): string {
  const names: Record<string, string> = {
    loopback: "loopback",
    private: "private",
    linkLocal: "link-local",
    uniqueLocal: "unique-local",
    unspecified: "unspecified",
    carrierGradeNat: "carrier-grade NAT",
    multicast: "multicast",
    broadcast: "broadcast",
    reserved: "reserved",
    ipv4Mapped: "IPv4-mapped",
    rfc6052: "NAT64",
    rfc6145: "IPv4-translated",
    "6to4": "6to4",
    teredo: "Teredo",
    invalid: "invalid",
  };
  return names[range] ?? `non-public (${range})`;
}
