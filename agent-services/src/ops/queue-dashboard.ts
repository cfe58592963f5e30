/**
 * The bull-board queue dashboard under /ops/queues, for operators only. It is mounted only when
 * OPS_TOKEN is configured; the token is accepted as `Authorization: Bearer <OPS_TOKEN>` or, so a
 * browser can open the dashboard, as an HTTP-only session cookie that `GET /ops/login?token=...`
 * sets. The cookie holds an expiry and an HMAC keyed with the token, never the token itself.
 * Read-only: retrying or removing a job from here would bypass the task service's state machine.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { NextFunction, Request, Response, Router } from "express";
import { createBullBoard } from "@bull-board/api";
import type { IServerAdapter } from "@bull-board/api/dist/types";
import { BullMQAdapter } from "@bull-board/api/bullMQAdapter";
import { ExpressAdapter } from "@bull-board/express";
import type { Job, Queue } from "bullmq";
import { taskPriority } from "../queue/queues";

export const DASHBOARD_PATH = "/ops/queues";
export const LOGIN_PATH = "/ops/login";
export const SESSION_COOKIE = "ds_ops_session";
const SESSION_SECONDS = 8 * 3600;

export interface QueueDashboardOptions {
  /** Every queue the service owns: the agent queues and the webhooks queue. */
  queues: Queue[];
  /** OPS_TOKEN; without it the dashboard is not mounted and its paths answer 404. */
  operatorToken?: string;
}

/** The token of an `Authorization: Bearer <token>` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header ?? "");
  return m ? m[1] : undefined;
}

/** Constant-time comparison: both sides are hashed first, so lengths leak nothing either. */
export function tokenMatches(given: string | undefined, expected: string): boolean {
  if (given === undefined || !expected) return false;
  const a = createHash("sha256").update(given, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

function sessionSignature(token: string, expires: number): Buffer {
  return createHmac("sha256", token).update(`dealscale-ops-session:${expires}`).digest();
}

export function sessionCookieValue(token: string, now = Date.now()): string {
  const expires = Math.floor(now / 1000) + SESSION_SECONDS;
  return `${expires}.${sessionSignature(token, expires).toString("base64url")}`;
}

export function sessionValid(value: string | undefined, token: string, now = Date.now()): boolean {
  const m = /^(\d{1,12})\.([A-Za-z0-9_-]{43})$/.exec(value ?? "");
  if (!m) return false;
  const expires = Number(m[1]);
  if (expires * 1000 <= now) return false;
  const given = Buffer.from(m[2], "base64url");
  const expected = sessionSignature(token, expires);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function cookie(req: Request, name: string): string | undefined {
  for (const part of (req.header("cookie") ?? "").split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

/**
 * The board shows a job's BullMQ priority, which runs the other way from a task's (BullMQ runs 1
 * first, a task's 10 is the most urgent): this adapter shows the task's.
 */
class TaskPriorityAdapter extends BullMQAdapter {
  override async getJob(id: string) {
    const job = await super.getJob(id);
    return job ? withTaskPriority(job as Job) : job;
  }

  override async getJobs(...args: Parameters<BullMQAdapter["getJobs"]>) {
    return (await super.getJobs(...args)).map((job) => withTaskPriority(job as Job));
  }
}

function withTaskPriority<J extends Job>(job: J): J {
  if (!job.opts?.priority) return job;
  const toJSON = job.toJSON.bind(job);
  return Object.assign(Object.create(job), {
    toJSON: () => {
      const json = toJSON();
      return { ...json, priority: taskPriority(json.priority), opts: { ...json.opts, priority: taskPriority(json.opts.priority ?? 0) } };
    },
  });
}

const unauthorized = (res: Response, message: string) => {
  res.set("WWW-Authenticate", 'Bearer realm="dealscale-a2a-ops"');
  res.status(401).json({ error: { code: "unauthorized", message } });
};

export function mountQueueDashboard(app: Router, opts: QueueDashboardOptions): void {
  const token = opts.operatorToken;
  if (!token) {
    app.use([DASHBOARD_PATH, LOGIN_PATH], (_req: Request, res: Response) => {
      res.status(404).json({ error: { code: "not_found", message: "the queue dashboard is disabled: set OPS_TOKEN to enable it" } });
    });
    return;
  }

  const serverAdapter = new ExpressAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({
    queues: opts.queues.map((q) => new TaskPriorityAdapter(q, { readOnlyMode: true, allowRetries: false })),
    // @bull-board/express pins its own patch release of @bull-board/api; the adapter interface is
    // the same, only the private members of the two copies' classes make the types differ.
    serverAdapter: serverAdapter as unknown as IServerAdapter,
    options: { uiConfig: { boardTitle: "DealScale A2A" } },
  });

  app.get(LOGIN_PATH, (req: Request, res: Response) => {
    res.set("Cache-Control", "no-store").set("Referrer-Policy", "no-referrer");
    const given = typeof req.query.token === "string" ? req.query.token : undefined;
    if (!tokenMatches(given, token)) {
      unauthorized(res, "wrong or missing operator token: open /ops/login?token=<OPS_TOKEN>");
      return;
    }
    res.cookie(SESSION_COOKIE, sessionCookieValue(token), {
      httpOnly: true,
      sameSite: "lax",
      secure: req.secure,
      path: "/ops",
      maxAge: SESSION_SECONDS * 1000,
      encode: String,
    });
    res.redirect(303, `${DASHBOARD_PATH}/`);
  });

  const requireOperator = (req: Request, res: Response, next: NextFunction) => {
    if (tokenMatches(bearerToken(req.header("authorization")), token) || sessionValid(cookie(req, SESSION_COOKIE), token)) {
      res.set("Cache-Control", "no-store");
      next();
      return;
    }
    unauthorized(res, "the queue dashboard needs Authorization: Bearer <OPS_TOKEN>, or a session from /ops/login?token=<OPS_TOKEN>");
  };
  app.use(DASHBOARD_PATH, requireOperator, serverAdapter.getRouter());
}
