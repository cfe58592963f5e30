/**
 * The webhook URL policy, as decisions only: every resolver here is a fake, so nothing is ever
 * looked up or connected to.
 */
import type { LookupAddress } from "node:dns";
import { addressVerdict, checkWebhookUrl, makeUrlPolicy, pinnedLookup, UrlPolicyError, type Resolver } from "../src/lib/url-policy";
import { deliveryId, signatureHeader, verifySignature } from "../src/webhooks/signing";
import { loadConfig, ConfigError } from "../src/config/config";

const strict = makeUrlPolicy({ allowPrivate: false });
const dev = makeUrlPolicy({ allowPrivate: true });

/** A resolver that answers from a table and records what it was asked; it never touches DNS. */
function fakeResolver(table: Record<string, string[]>): Resolver & { asked: string[] } {
  const asked: string[] = [];
  const fn = (async (host: string) => {
    asked.push(host);
    const addrs = table[host];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
    return addrs.map((address): LookupAddress => ({ address, family: address.includes(":") ? 6 : 4 }));
  }) as Resolver & { asked: string[] };
  fn.asked = asked;
  return fn;
}

describe("addressVerdict", () => {
  test.each([
    ["127.0.0.1", "loopback"],
    ["127.255.255.254", "loopback"],
    ["10.0.0.1", "private"],
    ["10.255.255.255", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.1", "private"],
    ["169.254.169.254", "linkLocal"], // cloud metadata
    ["169.254.0.1", "linkLocal"],
    ["0.0.0.0", "unspecified"],
    ["100.64.0.1", "carrierGradeNat"],
    ["224.0.0.1", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["::1", "loopback"],
    ["::", "unspecified"],
    ["fe80::1", "linkLocal"],
    ["fc00::1", "uniqueLocal"],
    ["fd00:ec2::254", "uniqueLocal"], // AWS metadata over IPv6
    ["::ffff:127.0.0.1", "loopback"], // IPv4-mapped: judged as the IPv4 address
    ["::ffff:10.0.0.1", "private"],
    ["::ffff:169.254.169.254", "linkLocal"],
    ["64:ff9b::a00:1", "rfc6052"], // NAT64 of 10.0.0.1
    ["2002:a00:1::", "6to4"],
    ["not-an-ip", "invalid"],
  ])("refuses %s (%s)", (address, range) => {
    expect(addressVerdict(address)).toEqual({ allowed: false, range });
  });

  test.each(["8.8.8.8", "93.184.216.34", "172.32.0.1", "172.15.255.255", "192.169.0.1", "2606:4700:4700::1111", "::ffff:8.8.8.8"])("allows public %s", (address) => {
    expect(addressVerdict(address).allowed).toBe(true);
  });

  test("an allow-listed range lets an internal address through, and only that range", () => {
    const p = makeUrlPolicy({ allowPrivate: false, allow: ["10.0.5.0/24", "fd12::/16"] });
    expect(addressVerdict("10.0.5.7", p).allowed).toBe(true);
    expect(addressVerdict("10.0.6.1", p).allowed).toBe(false);
    expect(addressVerdict("fd12::1", p).allowed).toBe(true);
    expect(addressVerdict("127.0.0.1", p).allowed).toBe(false);
  });
});

describe("checkWebhookUrl", () => {
  test("schemes other than http(s) are refused, even with allowPrivate", async () => {
    for (const url of ["ftp://example.com/x", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)", "data:text/plain,hi", "ws://example.com/"]) {
      for (const policy of [strict, dev]) {
        await expect(checkWebhookUrl(url, policy, fakeResolver({}))).rejects.toMatchObject({ name: "UrlPolicyError", reason: expect.stringMatching(/scheme|syntax/) });
      }
    }
    await expect(checkWebhookUrl("not a url", dev)).rejects.toBeInstanceOf(UrlPolicyError);
    await expect(checkWebhookUrl(42, dev)).rejects.toBeInstanceOf(UrlPolicyError);
    await expect(checkWebhookUrl(`https://example.com/${"a".repeat(2100)}`, dev)).rejects.toBeInstanceOf(UrlPolicyError);
  });

  test("IP-literal hosts are judged without any lookup, in every spelling the URL parser accepts", async () => {
    const resolve = fakeResolver({});
    for (const url of ["http://127.0.0.1:8080/h", "http://[::1]/h", "http://0x7f000001/h", "http://2130706433/h", "http://0177.0.0.1/h", "http://10.1.2.3/h",
      "http://169.254.169.254/latest/meta-data/", "http://[::ffff:127.0.0.1]/h", "http://[fd00:ec2::254]/", "http://0.0.0.0/"]) {
      await expect(checkWebhookUrl(url, strict, resolve)).rejects.toMatchObject({ reason: "address" });
    }
    await expect(checkWebhookUrl("https://8.8.8.8/hook", strict, resolve)).resolves.toBeInstanceOf(URL);
    expect(resolve.asked).toEqual([]);
  });

  test("a host is refused if any address it resolves to is internal", async () => {
    const resolve = fakeResolver({
      "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"],
      "sneaky.example.com": ["93.184.216.34", "10.0.0.7"],
      "metadata.example.com": ["169.254.169.254"],
      "v6local.example.com": ["fd00::1"],
      "empty.example.com": [],
    });
    await expect(checkWebhookUrl("https://hooks.example.com/x", strict, resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("https://sneaky.example.com/x", strict, resolve)).rejects.toThrow(/private/);
    await expect(checkWebhookUrl("https://metadata.example.com/x", strict, resolve)).rejects.toThrow(/link-local/);
    await expect(checkWebhookUrl("https://v6local.example.com/x", strict, resolve)).rejects.toThrow(/unique-local/);
    await expect(checkWebhookUrl("https://empty.example.com/x", strict, resolve)).rejects.toMatchObject({ reason: "unresolvable" });
    await expect(checkWebhookUrl("https://nowhere.example.com/x", strict, resolve)).rejects.toMatchObject({ reason: "unresolvable" });
  });

  test("allowPrivate and allow-listed host names skip the address check; nothing is resolved for them", async () => {
    const resolve = fakeResolver({ "n8n.internal": ["10.0.0.9"] });
    await expect(checkWebhookUrl("http://127.0.0.1:5678/webhook", dev, resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("http://n8n.internal/webhook", dev, resolve)).resolves.toBeInstanceOf(URL);
    const named = makeUrlPolicy({ allowPrivate: false, allow: ["N8N.internal"] });
    await expect(checkWebhookUrl("http://n8n.internal/webhook", named, resolve)).resolves.toBeInstanceOf(URL);
    await expect(checkWebhookUrl("http://127.0.0.1/webhook", named, resolve)).rejects.toMatchObject({ reason: "address" });
    expect(resolve.asked).toEqual([]);
  });
});

describe("pinnedLookup (connect-time check)", () => {
  const lookupOnce = (policy: ReturnType<typeof makeUrlPolicy>, resolve: Resolver, host: string, all: boolean) =>
    new Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family?: number }>((done) => {
      pinnedLookup(policy, resolve)(host, { all }, (err, address, family) => done({ err, address, family }));
    });

  test("hands the socket exactly the checked addresses, in both lookup shapes", async () => {
    const resolve = fakeResolver({ "hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"] });
    const all = await lookupOnce(strict, resolve, "hooks.example.com", true);
    expect(all.err).toBeNull();
    expect(all.address).toEqual([{ address: "93.184.216.34", family: 4 }, { address: "2606:2800:220:1::1", family: 6 }]);
    const one = await lookupOnce(strict, resolve, "hooks.example.com", false);
    expect(one).toEqual({ err: null, address: "93.184.216.34", family: 4 });
  });

  test("a host that now resolves to an internal address (DNS rebinding) fails the connection", async () => {
    const answers = ["93.184.216.34"];
    const rebinding: Resolver = async () => answers.map((address) => ({ address, family: 4 }));
    await expect(checkWebhookUrl("https://rebind.example.com/", strict, rebinding)).resolves.toBeInstanceOf(URL);
    answers[0] = "127.0.0.1"; // the attacker's DNS changes its answer after the check
    const r = await lookupOnce(strict, rebinding, "rebind.example.com", true);
    expect(r.err).toBeInstanceOf(UrlPolicyError);
    expect(r.err!.code).toBe("EWEBHOOKPOLICY");
    expect(r.err!.message).toMatch(/loopback/);
  });

  test("resolver errors pass through as connection errors (retried later)", async () => {
    const r = await lookupOnce(strict, fakeResolver({}), "gone.example.com", false);
    expect(r.err?.code).toBe("ENOTFOUND");
  });
});

describe("signatures", () => {
  test("verify with the right secret and body, fail on a tampered body, another secret or a stale timestamp", () => {
    const body = JSON.stringify({ event: "completed", task: { taskId: "t1" } });
    const now = Math.floor(Date.now() / 1000);
    const header = signatureHeader("s3cret", body, now);
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifySignature("s3cret", body, header)).toBe(true);
    expect(verifySignature("s3cret", Buffer.from(body), header)).toBe(true);
    expect(verifySignature("s3cret", body.replace("t1", "t2"), header)).toBe(false);
    expect(verifySignature("other", body, header)).toBe(false);
    expect(verifySignature("s3cret", body, signatureHeader("s3cret", body, now - 3600))).toBe(false);
    expect(verifySignature("s3cret", body, header.replace(/t=\d+/, `t=${now + 1}`))).toBe(false);
    expect(verifySignature("s3cret", body, undefined)).toBe(false);
    expect(verifySignature("s3cret", body, "garbage")).toBe(false);
  });

  test("a delivery id is a stable UUID per job id", () => {
    expect(deliveryId("wh.a.cb")).toBe(deliveryId("wh.a.cb"));
    expect(deliveryId("wh.a.cb")).not.toBe(deliveryId("wh.b.cb"));
    expect(deliveryId("wh.a.cb")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe("webhook configuration", () => {
  const base = { NODE_ENV: "test", DATABASE_URL: "postgres://x@127.0.0.1/db" };
  test("defaults: private addresses refused, 8 attempts", () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({ webhookAllowPrivate: false, webhookAllowHosts: [], webhookAttempts: 8, webhookTimeoutMs: 10_000 });
  });
  test("bad values are named", () => {
    expect(() => loadConfig({ ...base, WEBHOOK_ALLOW_PRIVATE: "yes please" })).toThrow(/WEBHOOK_ALLOW_PRIVATE/);
    expect(() => loadConfig({ ...base, WEBHOOK_ALLOW_HOSTS: "n8n,10.0.0.0/99" })).toThrow(/WEBHOOK_ALLOW_HOSTS/);
    expect(() => loadConfig({ ...base, WEBHOOK_ATTEMPTS: "0" })).toThrow(ConfigError);
    expect(() => loadConfig({ ...base, NODE_ENV: "production", A2A_JWT_SECRET: "x".repeat(40), WEBHOOK_ALLOW_PRIVATE: "true" })).toThrow(/WEBHOOK_ALLOW_HOSTS instead/);
    expect(loadConfig({ ...base, WEBHOOK_ALLOW_PRIVATE: "true", WEBHOOK_ALLOW_HOSTS: "n8n, 10.0.0.0/8 ,fd00::/8" })).toMatchObject({
      webhookAllowPrivate: true,
      webhookAllowHosts: ["n8n", "10.0.0.0/8", "fd00::/8"],
    });
  });
});
