/**
 * Forwards the audit log to a SIEM sink (AUDIT_SIEM_URL): HTTP(S) POST of JSON lines, or RFC 5424
 * syslog over UDP (RFC 5426) or TCP (RFC 6587 octet counting).
 *
 * The audit_logs row is the source of truth, written in the task's own transaction as always; this
 * loop only reads. Each pass holds the single siem_cursor row (FOR UPDATE SKIP LOCKED: one replica
 * forwards at a time, the others skip), reads the rows after the cursor in id order through
 * audit_rows_after(), sends them, and moves the cursor in the same transaction. A crash before the
 * commit sends the batch again: delivery is at-least-once (the row id and hash let the SIEM dedupe).
 * A sink that is down gets a few quick retries per pass, then the loop backs off; nothing is lost
 * and nothing on the request path waits for it.
 *
 * Ids come from a sequence at insert time, but transactions commit in any order, so a row with a
 * lower id can become visible after a higher one. The cursor therefore only moves over contiguous
 * ids. A gap is skipped only once it is proven permanent (the id was taken by a transaction that
 * rolled back): it has been there for `gapGraceMs`, and every transaction that was running when the
 * gap was first seen has ended; a fresh read after that proof decides what is really there.
 */
import dgram from "node:dgram";
import net from "node:net";
import os from "node:os";
import type { Pool, PoolClient } from "pg";
import { milliToCredits } from "../protocol/credits";
import { tracedFetch } from "../lib/tracing";

export interface AuditRecord {
  id: number;
  tenantId: string | null;
  seq: number;
  eventType: string;
  callingAgent: string | null;
  targetAgent: string | null;
  taskId: string | null;
  userId: string | null;
  ip: string | null;
  userAgent: string | null;
  inputHash: string | null;
  outputHash: string | null;
  durationMs: number | null;
  credits: number | null;
  error: string | null;
  details: Record<string, unknown> | null;
  createdAt: string;
  prevHash: string;
  hash: string;
}

interface AuditRow {
  id: string;
  tenant_id: string | null;
  seq: string;
  event_type: string;
  calling_agent: string | null;
  target_agent: string | null;
  task_id: string | null;
  user_id: string | null;
  ip: string | null;
  user_agent: string | null;
  input_hash: string | null;
  output_hash: string | null;
  duration_ms: number | null;
  credits_milli: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
  created_at: Date;
  prev_hash: string;
  hash: string;
  /** How long ago the row was inserted, by the database clock. */
  age_ms: number;
}

function toRecord(r: AuditRow): AuditRecord {
  return {
    id: Number(r.id),
    tenantId: r.tenant_id,
    seq: Number(r.seq),
    eventType: r.event_type,
    callingAgent: r.calling_agent,
    targetAgent: r.target_agent,
    taskId: r.task_id,
    userId: r.user_id,
    ip: r.ip,
    userAgent: r.user_agent,
    inputHash: r.input_hash,
    outputHash: r.output_hash,
    durationMs: r.duration_ms,
    credits: r.credits_milli == null ? null : milliToCredits(r.credits_milli),
    error: r.error,
    details: r.details,
    createdAt: r.created_at.toISOString(),
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

// ---------------------------------------------------------------------------------------------
// Sinks

export interface SiemSink {
  /** Resolves once the sink has taken every record (HTTP 2xx, or written to the socket). */
  send(records: AuditRecord[], signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** HTTP(S) POST of JSON lines (application/x-ndjson); any 2xx is success. user:pass@ becomes Basic auth. */
export class HttpSink implements SiemSink {
  private readonly url: URL;
  private readonly headers: Record<string, string> = { "content-type": "application/x-ndjson" };

  constructor(url: string, private readonly timeoutMs = 5000) {
    this.url = new URL(url);
    if (this.url.username || this.url.password) {
      const user = decodeURIComponent(this.url.username);
      const pass = decodeURIComponent(this.url.password);
      this.headers.authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;
      this.url.username = "";
      this.url.password = "";
    }
  }

  async send(records: AuditRecord[], signal?: AbortSignal): Promise<void> {
    const body = records.map((r) => JSON.stringify(r)).join("\n") + "\n";
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const res = await tracedFetch(
      this.url,
      { method: "POST", headers: this.headers, body, signal: signal ? AbortSignal.any([signal, timeout]) : timeout },
      { spanName: "siem.forward POST" },
    );
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`SIEM sink answered HTTP ${res.status}`);
  }

  async close(): Promise<void> {}
}

/** RFC 5424 facility "log audit" (13); security refusals are warnings, the rest informational. */
const FACILITY = 13;
const SECURITY_EVENTS = new Set(["unauthorized_access", "tenant_mismatch"]);
/** RFC 5612 documentation enterprise number: the SD-ID is ours, not an IANA-registered one. */
const SD_ID = "dealscale-audit@32473";

const sdEscape = (v: string) => v.replace(/["\\\]]/g, (c) => `\\${c}`);
const printable = (v: string, max: number) => (v.replace(/[^\x21-\x7e]/g, "_").slice(0, max) || "-");

/** One RFC 5424 message: structured data with the row id, tenant, seq and hash; the JSON record as MSG. */
export function syslogMessage(r: AuditRecord, hostname = os.hostname()): string {
  const severity = SECURITY_EVENTS.has(r.eventType) ? 4 : 6;
  const sd = `[${SD_ID} id="${r.id}" tenant="${sdEscape(r.tenantId ?? "-")}" seq="${r.seq}" hash="${sdEscape(r.hash)}"]`;
  return `<${FACILITY * 8 + severity}>1 ${r.createdAt} ${printable(hostname, 255)} dealscale-a2a ${process.pid} ${printable(r.eventType, 32)} ${sd} ${JSON.stringify(r)}`;
}

/** RFC 5426: one message per datagram. UDP cannot confirm delivery; use TCP or HTTP where loss matters. */
export class SyslogUdpSink implements SiemSink {
  private socket?: dgram.Socket;
  private connecting?: Promise<dgram.Socket>;

  constructor(private readonly host: string, private readonly port: number) {}

  private open(): Promise<dgram.Socket> {
    if (this.socket) return Promise.resolve(this.socket);
    this.connecting ??= new Promise<dgram.Socket>((resolve, reject) => {
      const socket = dgram.createSocket(net.isIPv6(this.host) ? "udp6" : "udp4");
      socket.once("error", (e) => {
        this.connecting = undefined;
        socket.close();
        reject(e);
      });
      // Connected: an ICMP "port unreachable" then fails the next send instead of vanishing.
      socket.connect(this.port, this.host, () => {
        socket.removeAllListeners("error");
        socket.on("error", () => this.reset());
        this.socket = socket;
        this.connecting = undefined;
        resolve(socket);
      });
    });
    return this.connecting;
  }

  private reset(): void {
    const s = this.socket;
    this.socket = undefined;
    try {
      s?.close();
    } catch {
      /* already closed */
    }
  }

  async send(records: AuditRecord[]): Promise<void> {
    const socket = await this.open();
    for (const r of records) {
      await new Promise<void>((resolve, reject) =>
        socket.send(Buffer.from(syslogMessage(r), "utf8"), (err) => {
          if (err) {
            this.reset();
            reject(err);
          } else resolve();
        }),
      );
    }
  }

  async close(): Promise<void> {
    this.reset();
  }
}

/** RFC 6587 octet counting ("<length> <message>") over one kept-open TCP connection. */
export class SyslogTcpSink implements SiemSink {
  private socket?: net.Socket;

  constructor(private readonly host: string, private readonly port: number, private readonly timeoutMs = 5000) {}

  private open(): Promise<net.Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise<net.Socket>((resolve, reject) => {
      const socket = net.connect({ host: this.host, port: this.port });
      const timer = setTimeout(() => socket.destroy(new Error(`syslog connect timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      socket.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.on("error", () => socket.destroy());
        socket.on("close", () => {
          if (this.socket === socket) this.socket = undefined;
        });
        socket.setKeepAlive(true);
        this.socket = socket;
        resolve(socket);
      });
    });
  }

  async send(records: AuditRecord[]): Promise<void> {
    const socket = await this.open();
    const frames = records.map((r) => {
      const msg = Buffer.from(syslogMessage(r), "utf8");
      return Buffer.concat([Buffer.from(`${msg.length} `), msg]);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`syslog write timed out after ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      socket.write(Buffer.concat(frames), (err) => {
        clearTimeout(timer);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.socket?.end();
    this.socket = undefined;
  }
}

/** The sink for AUDIT_SIEM_URL: http(s)://..., syslog+udp://host:port or syslog+tcp://host:port. */
export function createSink(url: string): SiemSink {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const port = u.port ? Number(u.port) : 514;
  switch (u.protocol) {
    case "http:":
    case "https:":
      return new HttpSink(url);
    case "syslog+udp:":
      return new SyslogUdpSink(host, port);
    case "syslog+tcp:":
      return new SyslogTcpSink(host, port);
    default:
      throw new Error(`unsupported SIEM sink ${u.protocol}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The forwarder

export interface SiemLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface SiemForwarderOptions {
  /** Pause between passes when caught up. */
  intervalMs: number;
  /** Rows per pass (one send). */
  batchSize?: number;
  /** How long an id gap must last (at least) before it may be skipped as a rolled-back insert. */
  gapGraceMs?: number;
  /** Sends per pass before the pass gives up; between them 200 ms, 400 ms, ... */
  sendAttempts?: number;
  retryBaseMs?: number;
  /** Ceiling of the back-off between failing passes. */
  maxBackoffMs?: number;
}

export interface PassResult {
  forwarded: number;
  /** Why the pass stopped short: another replica holds the cursor, or an unresolved id gap. */
  waiting?: "locked" | "gap";
}

export class SiemForwarder {
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = true;
  private failures = 0;
  private readonly abort = new AbortController();
  /** Gaps seen, by their first missing id: when first seen and the snapshot of that moment. */
  private readonly gaps = new Map<string, { since: number; snapshot: string }>();
  private readonly batchSize: number;
  private readonly gapGraceMs: number;
  private readonly sendAttempts: number;
  private readonly retryBaseMs: number;
  private readonly maxBackoffMs: number;

  constructor(
    private readonly pool: Pool,
    private readonly sink: SiemSink,
    private readonly log: SiemLogger,
    private readonly options: SiemForwarderOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.gapGraceMs = options.gapGraceMs ?? 10_000;
    this.sendAttempts = options.sendAttempts ?? 3;
    this.retryBaseMs = options.retryBaseMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
    await this.sink.close().catch(() => undefined);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.pass().then(
        (r) => {
          if (this.failures > 0) this.log.info({ forwarded: r.forwarded }, "SIEM sink reachable again; forwarding resumed");
          this.failures = 0;
          // A full batch means more is waiting: go on at once.
          this.schedule(r.forwarded >= this.batchSize ? 0 : this.options.intervalMs);
        },
        (e) => {
          this.failures++;
          const backoff = Math.min(this.maxBackoffMs, this.options.intervalMs * 2 ** Math.min(this.failures, 16));
          if (this.failures === 1 || this.failures % 10 === 0) {
            this.log.warn({ err: (e as Error).message, failures: this.failures, retryInMs: backoff }, "SIEM forwarding failed; audit rows stay queued in Postgres");
          }
          this.schedule(backoff);
        },
      );
    }, ms);
    this.timer.unref?.();
  }

  /** One pass: forwards what is there (up to a batch) and moves the cursor. Exposed for tests and tools. */
  async pass(): Promise<PassResult> {
    const client = await this.pool.connect();
    let broken = false;
    try {
      await client.query("BEGIN");
      const cur = await client.query<{ last_id: string }>("SELECT last_id FROM siem_cursor WHERE id FOR UPDATE SKIP LOCKED");
      if (!cur.rows.length) {
        await client.query("COMMIT");
        return { forwarded: 0, waiting: "locked" };
      }
      const { rows, gap } = await this.collect(client, BigInt(cur.rows[0].last_id));
      if (rows.length) {
        await this.sendWithRetries(rows.map(toRecord));
        await client.query("UPDATE siem_cursor SET last_id = $1, updated_at = now() WHERE id", [rows[rows.length - 1].id]);
      }
      await client.query("COMMIT");
      return { forwarded: rows.length, ...(gap ? { waiting: "gap" as const } : {}) };
    } catch (e) {
      await client.query("ROLLBACK").catch(() => {
        broken = true;
      });
      throw e;
    } finally {
      client.release(broken);
    }
  }

  private read(client: PoolClient, after: bigint, limit: number): Promise<AuditRow[]> {
    return client
      .query<AuditRow>(
        `SELECT a.*, extract(epoch FROM clock_timestamp() - a.created_at) * 1000 AS age_ms FROM audit_rows_after($1, $2) a`,
        [after.toString(), limit],
      )
      .then((r) => r.rows.map((row) => ({ ...row, age_ms: Number(row.age_ms) })));
  }

  /** The rows after the cursor whose ids are contiguous (gaps proven permanent are stepped over). */
  private async collect(client: PoolClient, cursor: bigint): Promise<{ rows: AuditRow[]; gap: boolean }> {
    const out: AuditRow[] = [];
    let after = cursor;
    while (out.length < this.batchSize) {
      const want = this.batchSize - out.length;
      const rows = await this.read(client, after, want);
      let i = 0;
      while (i < rows.length && BigInt(rows[i].id) === after + 1n) {
        out.push(rows[i]);
        after++;
        i++;
      }
      if (i === rows.length) {
        if (rows.length < want) break; // caught up
        continue;
      }
      // Ids after+1 .. rows[i].id-1 are not visible: in flight, or rolled back.
      if (!(await this.gapIsPermanent(client, after + 1n, rows[i]))) return { rows: out, gap: true };
      // Proven as of that check; a read started after it sees whatever did commit meanwhile.
      const fresh = await this.read(client, after, 1);
      if (!fresh.length) break;
      const next = BigInt(fresh[0].id);
      if (next > after + 1n) {
        this.log.warn({ fromId: (after + 1n).toString(), toId: (next - 1n).toString() }, "audit ids never committed (rolled back); skipping them");
        this.gaps.delete((after + 1n).toString());
        out.push(fresh[0]);
        after = next;
      }
    }
    for (const key of this.gaps.keys()) if (BigInt(key) <= after) this.gaps.delete(key);
    return { rows: out, gap: false };
  }

  private async gapIsPermanent(client: PoolClient, firstMissing: bigint, rowAfter: AuditRow): Promise<boolean> {
    const key = firstMissing.toString();
    let seen = this.gaps.get(key);
    if (!seen) {
      const s = await client.query<{ snapshot: string }>("SELECT pg_current_snapshot()::text AS snapshot");
      seen = { since: Date.now(), snapshot: s.rows[0].snapshot };
      this.gaps.set(key, seen);
    }
    // Whoever holds a missing id took it before rowAfter was inserted: the gap is at least that old.
    const age = Math.max(Date.now() - seen.since, rowAfter.age_ms);
    if (age < this.gapGraceMs) return false;
    const open = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_snapshot_xip($1::pg_snapshot) x WHERE pg_xact_status(x) = 'in progress'",
      [seen.snapshot],
    );
    return open.rows[0].n === 0;
  }

  private async sendWithRetries(records: AuditRecord[]): Promise<void> {
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.sendAttempts; attempt++) {
      if (this.abort.signal.aborted && attempt > 1) break;
      try {
        await this.sink.send(records, this.abort.signal);
        return;
      } catch (e) {
        lastError = e;
        if (attempt < this.sendAttempts) await sleep(this.retryBaseMs * 2 ** (attempt - 1), this.abort.signal);
      }
    }
    throw lastError ?? new Error("SIEM forwarding stopped");
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}
