import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { loadConfig } from "../src/config/config";
import { startStack, type Stack } from "../src/stack";
import { createSink } from "../src/ops/siem-forwarder";
import { eventually, startTestStack, sleep, type TestStack } from "./support/harness";

const A = "test-agent";

/** A SIEM HTTP collector: records every JSON line it is sent; can go away and come back on its port. */
class Collector {
  readonly records: any[] = [];
  readonly contentTypes = new Set<string>();
  private server = this.make();
  port = 0;

  private make() {
    return http.createServer((req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c) => (body += c));
      req.on("end", () => {
        this.contentTypes.add(String(req.headers["content-type"]));
        for (const line of body.split("\n").filter(Boolean)) this.records.push(JSON.parse(line));
        res.writeHead(204).end();
      });
    });
  }

  async start(port = 0): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.make();
  }
}

/** A syslog receiver on a real UDP socket. */
class UdpCollector {
  readonly messages: string[] = [];
  private readonly socket = dgram.createSocket("udp4");
  port = 0;
  async start(): Promise<void> {
    this.socket.on("message", (m) => this.messages.push(m.toString("utf8")));
    await new Promise<void>((resolve) => this.socket.bind(0, "127.0.0.1", () => resolve()));
    this.port = this.socket.address().port;
  }
  close(): void {
    this.socket.close();
  }
}

async function auditRows(t: TestStack): Promise<{ id: number; hash: string; seq: number; event_type: string }[]> {
  const r = await t.owner.query("SELECT id::int, hash, seq::int, event_type FROM audit_logs ORDER BY id");
  return r.rows;
}

const create = (t: TestStack, token: string, n: number) => t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "noop", inputs: { n } } });

describe("HTTP sink", () => {
  const collector = new Collector();
  let t: TestStack;
  const extra: Stack[] = [];

  beforeAll(async () => {
    await collector.start();
    t = await startTestStack({ AUDIT_SIEM_URL: `http://127.0.0.1:${collector.port}/ingest`, AUDIT_SIEM_INTERVAL_MS: "100", AUDIT_SIEM_GAP_GRACE_MS: "1000" });
  });
  afterAll(async () => {
    for (const s of extra) await s.stop(0);
    await t?.close();
    await collector.stop();
  });

  /** Everything in audit_logs has arrived, in id order, each row once, with its hash. */
  async function allForwarded(): Promise<void> {
    const rows = await eventually("every audit row at the sink", async () => {
      const rows = await auditRows(t);
      return collector.records.length >= rows.length && rows;
    });
    expect(collector.records.map((r) => ({ id: r.id, hash: r.hash, seq: r.seq, event_type: r.eventType }))).toEqual(rows);
  }

  test("audit rows arrive as JSON lines, in order, each with its chain hash; a second replica does not send them twice", async () => {
    // Another process on the same database: only one forwarder holds the cursor at a time.
    extra.push(await startStack(loadConfig({ ...t.env, DEALSCALE_ROLES: "worker" }), { log: pino({ level: "silent" }) }));
    const token = t.token(await t.tenant(100));
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await create(t, token, i)).body.taskId);
    for (const id of ids) await t.waitForStatus(token, A, id, ["completed"]);
    await allForwarded();
    expect([...collector.contentTypes]).toEqual(["application/x-ndjson"]);
    const first = collector.records.find((r) => r.taskId === ids[0] && r.eventType === "task_created");
    expect(first).toMatchObject({ targetAgent: A, callingAgent: "test-caller", credits: 1, prevHash: expect.stringMatching(/^[0-9a-f]{64}$/) });
    // The forwarder moves its cursor after the sink acknowledged the batch, so a moment after the
    // rows arrived.
    const lastSent = collector.records[collector.records.length - 1].id;
    const cursor = await eventually("the cursor to reach the last row sent", async () => {
      const r = await t.owner.query("SELECT last_id::int AS last_id FROM siem_cursor");
      return r.rows[0].last_id >= lastSent && r.rows[0];
    });
    expect(cursor.last_id).toBe(lastSent);
  });

  test("while the sink is down nothing is lost and creating tasks is not slowed; it all arrives once the sink is back", async () => {
    const token = t.token(await t.tenant(1000));
    const timeCreates = async (n: number) => {
      const ms: number[] = [];
      for (let i = 0; i < n; i++) {
        const started = performance.now();
        expect((await create(t, token, i)).status).toBe(202);
        ms.push(performance.now() - started);
      }
      return ms.sort((a, b) => a - b)[Math.floor(n / 2)];
    };
    const medianUp = await timeCreates(20);
    await allForwarded();

    await collector.stop();
    const before = collector.records.length;
    const medianDown = await timeCreates(20);
    await sleep(1500); // several failing passes with their retries
    expect(collector.records.length).toBe(before);
    const cursor = await t.owner.query("SELECT last_id::int AS last_id FROM siem_cursor");
    expect(cursor.rows[0].last_id).toBe(collector.records[before - 1].id); // the cursor waits for the sink
    expect(medianDown).toBeLessThan(medianUp * 3 + 20);

    await collector.start(collector.port);
    await allForwarded();
  });

  test("a row whose transaction commits late (a lower id after a higher one) is not skipped", async () => {
    await allForwarded();
    const held = await t.owner.connect();
    try {
      await held.query("BEGIN");
      // An anonymous-chain audit row, uncommitted: its id is lower than the task rows below.
      const r = await held.query(
        "INSERT INTO audit_logs (tenant_id, seq, event_type, error, prev_hash, hash) VALUES (NULL, 0, 'unauthorized_access', 'held', '', '') RETURNING id::int",
      );
      const heldId = r.rows[0].id;
      const token = t.token(await t.tenant(10));
      await create(t, token, 1);
      await sleep(2000); // past the gap grace: the open transaction still holds the forwarder at the gap
      expect(collector.records.some((x) => x.id > heldId)).toBe(false);
      await held.query("COMMIT");
    } finally {
      held.release();
    }
    await allForwarded();
  });

  test("an id taken by a rolled-back insert is skipped once the gap is proven permanent", async () => {
    await allForwarded();
    const c = await t.owner.connect();
    try {
      await c.query("BEGIN");
      await c.query("INSERT INTO audit_logs (tenant_id, seq, event_type, error, prev_hash, hash) VALUES (NULL, 0, 'unauthorized_access', 'rolled back', '', '')");
      await c.query("ROLLBACK");
    } finally {
      c.release();
    }
    const token = t.token(await t.tenant(10));
    await create(t, token, 1);
    await allForwarded();
    expect(collector.records.some((r) => r.error === "rolled back")).toBe(false);
  });
});

describe("syslog over UDP", () => {
  const udp = new UdpCollector();
  let t: TestStack;

  beforeAll(async () => {
    await udp.start();
    t = await startTestStack({ AUDIT_SIEM_URL: `syslog+udp://127.0.0.1:${udp.port}`, AUDIT_SIEM_INTERVAL_MS: "100" });
  });
  afterAll(async () => {
    await t?.close();
    udp.close();
  });

  test("each audit row is one RFC 5424 message, in order, with its id, seq and hash in structured data", async () => {
    const tenant = await t.tenant(100);
    const token = t.token(tenant);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await create(t, token, i)).body.taskId);
    for (const id of ids) await t.waitForStatus(token, A, id, ["completed"]);
    await t.request("GET", "/agents", { token: "forged" }); // an unauthorized_access row in the anonymous chain

    const rows = await eventually("every row as syslog", async () => {
      const rows = await auditRows(t);
      return udp.messages.length >= rows.length && rows.length >= 7 && rows;
    });
    const re = /^<(\d+)>1 (\S+) (\S+) dealscale-a2a (\d+) (\S+) \[dealscale-audit@32473 id="(\d+)" tenant="([^"]+)" seq="(\d+)" hash="([0-9a-f]{64})"\] (.+)$/s;
    const parsed = udp.messages.map((m) => {
      const x = re.exec(m);
      expect(x).not.toBeNull();
      const record = JSON.parse(x![10]);
      expect(record).toMatchObject({ id: Number(x![6]), seq: Number(x![8]), hash: x![9], eventType: x![5] });
      expect(Date.parse(x![2])).toBeGreaterThan(0);
      return { id: Number(x![6]), hash: x![9], seq: Number(x![8]), event_type: x![5], pri: Number(x![1]), tenant: x![7] };
    });
    expect(parsed.map(({ id, hash, seq, event_type }) => ({ id, hash, seq, event_type }))).toEqual(rows);
    // Facility 13 (log audit): informational for task events, warning for refusals.
    expect(parsed.find((p) => p.event_type === "task_created")).toMatchObject({ pri: 13 * 8 + 6, tenant });
    expect(parsed.find((p) => p.event_type === "unauthorized_access")).toMatchObject({ pri: 13 * 8 + 4, tenant: "-" });
  });
});

describe("syslog over TCP", () => {
  test("octet-counted RFC 5424 frames over one connection; a send fails while the receiver is away and works once it is back", async () => {
    const frames: string[] = [];
    const sockets = new Set<net.Socket>();
    const make = () =>
      net.createServer((socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
        let buffer = Buffer.alloc(0);
        socket.on("data", (chunk) => {
          buffer = Buffer.concat([buffer, chunk]);
          for (;;) {
            const sp = buffer.indexOf(0x20);
            if (sp < 0) break;
            const len = Number(buffer.subarray(0, sp).toString());
            if (buffer.length < sp + 1 + len) break;
            frames.push(buffer.subarray(sp + 1, sp + 1 + len).toString("utf8"));
            buffer = buffer.subarray(sp + 1 + len);
          }
        });
      });
    const listen = (server: net.Server, port = 0) =>
      new Promise<number>((resolve) => server.listen(port, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
    const shut = async (server: net.Server) => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    };
    const record = (id: number) => ({
      id, tenantId: null, seq: id, eventType: "unauthorized_access", callingAgent: null, targetAgent: null, taskId: null, userId: null,
      ip: null, userAgent: null, inputHash: null, outputHash: null, durationMs: null, credits: null, error: 'ünïcode ] " \\', details: null,
      createdAt: new Date().toISOString(), prevHash: "0".repeat(64), hash: "a".repeat(64),
    });

    let server = make();
    const port = await listen(server);
    const sink = createSink(`syslog+tcp://127.0.0.1:${port}`);
    try {
      await sink.send([record(1), record(2)]);
      await eventually("two frames", () => frames.length === 2);
      expect(frames[0]).toMatch(/^<108>1 \S+ \S+ dealscale-a2a \d+ unauthorized_access \[dealscale-audit@32473 id="1" tenant="-" seq="1" hash="a{64}"\] \{/);
      expect(JSON.parse(frames[1].slice(frames[1].indexOf("] ") + 2))).toMatchObject({ id: 2, error: 'ünïcode ] " \\' });

      await shut(server);
      await sleep(50);
      await expect(sink.send([record(3)])).rejects.toThrow(/ECONNREFUSED/);

      server = make();
      await listen(server, port);
      await sink.send([record(3)]);
      await eventually("the third frame", () => frames.some((f) => f.includes('id="3"')));
    } finally {
      await sink.close();
      await shut(server);
    }
  });
});
