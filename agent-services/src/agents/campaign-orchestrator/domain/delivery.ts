/**
 * Delivery rules of the CampaignOrchestrator, free of any framework: member statuses, the channel
 * seams (Mailer for SMTP, LinkedInProvider), SMTP settings from tenant settings or defaults, how an
 * SMTP error is classified (recipient rejected = bounced; transport down = retry later), DSN-style
 * bounce reports, and the counters of a campaign.
 */

export const MEMBER_STATUSES = ["pending", "sent", "failed", "bounced", "unsubscribed", "skipped"] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];
export type CampaignStatus = "draft" | "scheduled" | "running" | "paused" | "completed" | "cancelled" | "failed";
export type Channel = "email" | "linkedin";

export interface SmtpSettings {
  host: string;
  port: number;
  secure: boolean;
  auth?: { user: string; pass: string };
  from: string;
  /** Where the settings came from: the tenant's settings are subject to the URL policy, the operator's are not. */
  source: "tenant" | "default";
}

export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html?: string;
  messageId: string;
  headers: Record<string, string>;
}

/** An SMTP session for one send run. */
export interface Mailer {
  send(mail: OutgoingMail): Promise<{ messageId: string; response?: string }>;
  close(): void;
}

export interface LinkedInRecipient {
  leadId: string;
  linkedinUrl: string | null;
  firstName: string | null;
  lastName: string | null;
}

/** The LinkedIn channel seam: a deployment plugs in a provider (e.g. an automation vendor's API). */
export interface LinkedInProvider {
  readonly configured: boolean;
  sendMessage(recipient: LinkedInRecipient, text: string, signal: AbortSignal): Promise<{ externalId: string }>;
}

export class DeliveryError extends Error {
  constructor(
    /** bounced: the recipient is refused for good; failed: this member failed; transport: the channel is down, stop and retry later; auth: credentials refused. */
    public readonly kind: "bounced" | "failed" | "transport" | "auth",
    message: string,
  ) {
    super(message);
    this.name = "DeliveryError";
  }
}

/** The default LinkedIn provider: fails every member clearly. */
export const unconfiguredLinkedIn: LinkedInProvider = {
  configured: false,
  async sendMessage() {
    throw new DeliveryError("failed", "linkedin provider not configured");
  },
};

/** Anything SMTP-shaped nodemailer (or another client) throws, classified. */
export function classifySmtpError(e: unknown): DeliveryError {
  if (e instanceof DeliveryError) return e;
  const err = e as { code?: string; responseCode?: number; response?: string; message?: string; command?: string };
  const detail = (err.response || err.message || String(e)).trim().slice(0, 500);
  if (err.code === "EAUTH") return new DeliveryError("auth", `SMTP authentication failed: ${detail}`);
  const rc = typeof err.responseCode === "number" ? err.responseCode : undefined;
  // A refused recipient (RCPT TO) or message: 5xx is permanent (a hard bounce), 4xx temporary.
  if (rc !== undefined && rc >= 500 && (err.code === "EENVELOPE" || err.code === "EMESSAGE" || /^RCPT/i.test(err.command ?? ""))) {
    return new DeliveryError("bounced", `recipient rejected: ${detail}`);
  }
  if (rc !== undefined && rc >= 400 && rc < 500 && (err.code === "EENVELOPE" || err.code === "EMESSAGE")) {
    return new DeliveryError("failed", `temporarily refused: ${detail}`);
  }
  if (rc !== undefined && rc >= 500) return new DeliveryError("failed", `SMTP error: ${detail}`);
  // Connection refused, DNS, TLS, timeouts, a server that hung up: the channel is down, not the member.
  return new DeliveryError("transport", `SMTP server unavailable: ${detail}`);
}

/** Parses an smtp:// or smtps:// URL (SMTP_URL) into settings; throws with a readable message. */
export function parseSmtpUrl(raw: string, from: string | undefined): Omit<SmtpSettings, "source"> {
  const u = new URL(raw);
  if (u.protocol !== "smtp:" && u.protocol !== "smtps:") throw new Error(`must use smtp: or smtps:, got "${u.protocol}"`);
  if (!u.hostname) throw new Error("has no host");
  const secure = u.protocol === "smtps:";
  const user = decodeURIComponent(u.username);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port ? Number(u.port) : secure ? 465 : 587,
    secure,
    ...(user ? { auth: { user, pass: decodeURIComponent(u.password) } } : {}),
    from: from ?? (user.includes("@") ? user : `no-reply@${u.hostname}`),
  };
}

/**
 * The SMTP server for a tenant: tenants.settings.smtp {host, port, secure, auth: {user, pass}, from}
 * when it names a host, else the operator's default (SMTP_URL / SMTP_FROM). Undefined when neither.
 */
export function resolveSmtpSettings(tenantSettings: unknown, defaults: Omit<SmtpSettings, "source"> | undefined): SmtpSettings | undefined {
  const s = (tenantSettings as { smtp?: Record<string, unknown> } | null)?.smtp;
  if (s && typeof s === "object" && typeof s.host === "string" && s.host) {
    const secure = s.secure === true;
    const port = typeof s.port === "number" ? s.port : Number(s.port) || (secure ? 465 : 587);
    const auth = s.auth as { user?: unknown; pass?: unknown } | undefined;
    const from = typeof s.from === "string" && s.from ? s.from : defaults?.from;
    if (!from) throw new DeliveryError("failed", "tenant SMTP settings name no sender: set settings.smtp.from");
    return {
      host: s.host,
      port,
      secure,
      ...(auth && typeof auth.user === "string" ? { auth: { user: auth.user, pass: String(auth.pass ?? "") } } : {}),
      from: typeof s.from === "string" && s.from ? s.from : from,
      source: "tenant",
    };
  }
  if (defaults) return { ...defaults, source: "default" };
  return undefined;
}

/** A Message-ID for one member, stable across retries, on the sender's domain. */
export function memberMessageId(memberId: string, from: string): string {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1] ?? "dealscale.local";
  return `<${memberId}@${domain}>`;
}

/** One entry of a bounce report (DSN-style: RFC 3464 fields, in JSON). */
export interface BounceReport {
  messageId?: string;
  email?: string;
  /** RFC 3464 Action: failed (hard), delayed (soft), delivered, relayed, expanded. */
  action?: string;
  /** RFC 3463 status, e.g. 5.1.1. */
  status?: string;
  diagnosticCode?: string;
}

export type BounceVerdict = { hard: true; reason: string } | { hard: false; reason: string };

/** Hard bounces mark members bounced; delays and successes are reported and ignored. */
export function bounceVerdict(r: BounceReport): BounceVerdict {
  const reason = [r.status, r.diagnosticCode].filter(Boolean).join(" ").slice(0, 500) || "bounced";
  const action = (r.action ?? "").toLowerCase();
  if (action && action !== "failed") return { hard: false, reason: `action ${action}` };
  if (r.status && !/^5\./.test(r.status)) return { hard: false, reason: `status ${r.status} is not permanent` };
  return { hard: true, reason };
}

/** Normalises a Message-ID to its angle-bracket form. */
export function normaliseMessageId(id: string): string {
  const t = id.trim();
  return t.startsWith("<") ? t : `<${t}>`;
}

export interface Counters {
  members: number;
  pending: number;
  sent: number;
  delivered: number;
  bounced: number;
  unsubscribed: number;
  failed: number;
  skipped: number;
}

export const emptyCounters = (): Counters => ({ members: 0, pending: 0, sent: 0, delivered: 0, bounced: 0, unsubscribed: 0, failed: 0, skipped: 0 });

/**
 * Counters from rows of (channel, status, wasSent, n). `sent` counts members handed to the channel
 * (whatever happened after); `delivered` those sent and not bounced.
 */
export function countMembers(rows: { channel: string; status: string; was_sent: boolean; n: number }[]): { total: Counters; byChannel: Record<string, Counters> } {
  const total = emptyCounters();
  const byChannel: Record<string, Counters> = {};
  for (const r of rows) {
    const c = (byChannel[r.channel] ??= emptyCounters());
    for (const target of [total, c]) {
      target.members += r.n;
      if (r.was_sent) target.sent += r.n;
      if (r.was_sent && r.status !== "bounced") target.delivered += r.n;
      if ((MEMBER_STATUSES as readonly string[]).includes(r.status) && r.status !== "sent") target[r.status as Exclude<MemberStatus, "sent">] += r.n;
    }
  }
  return { total, byChannel };
}
