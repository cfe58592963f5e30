/**
 * The send loop of a campaign, shared by the launchCampaign handler (an immediate send) and the
 * due-campaign sweep (scheduled sends, and running campaigns whose sender died). One sender at a
 * time holds the campaign's lease in Postgres; between two members it renews the lease and re-reads
 * the status, so a pause (or a cancelled task's signal) stops it between sends, members left pending.
 */
import { randomUUID } from "node:crypto";
import type { TenantTx } from "../../store/tenant-tx";
import { checkWebhookUrl, UrlPolicyError, type Resolver, type UrlPolicy } from "../../lib/url-policy";
import {
  DeliveryError,
  memberMessageId,
  resolveSmtpSettings,
  type CampaignStatus,
  type LinkedInProvider,
  type Mailer,
  type SmtpSettings,
} from "./domain/delivery";
import { renderMessage, renderString, type LeadFields } from "./domain/template";
import { signUnsubscribeToken } from "./domain/unsubscribe-token";
import * as store from "./store";

export type Db = <T>(fn: (tx: TenantTx) => Promise<T>) => Promise<T>;

export interface SenderDeps {
  unsubscribeKey: Buffer;
  /** The gateway's public base URL, for unsubscribe links. */
  publicUrl: () => string | undefined;
  smtpDefaults: Omit<SmtpSettings, "source"> | undefined;
  urlPolicy: UrlPolicy;
  resolve?: Resolver;
  linkedin: LinkedInProvider;
  mailerFactory: (settings: SmtpSettings) => Mailer;
  leaseMs: number;
  batchSize: number;
  /** After an SMTP outage, how long the sweep waits before taking the campaign again. */
  transportRetryMs: number;
}

export interface SendOutcome {
  /** False when another sender holds the campaign or it is not runnable. */
  claimed: boolean;
  status: CampaignStatus | undefined;
  /** Why the loop stopped early: paused, aborted, lease lost. */
  stoppedBy?: "paused" | "aborted" | "lease_lost" | "cancelled" | "failed";
}

/** A failure of the whole run (not one member's): the handler maps it to a TaskError. */
export class SendRunError extends Error {
  constructor(
    public readonly code: string,
    message: string,
    public readonly retryable: boolean,
  ) {
    super(message);
    this.name = "SendRunError";
  }
}

export function newSenderId(prefix: string): string {
  return `${prefix}:${process.pid}:${randomUUID().slice(0, 8)}`;
}

/** The SMTP server of a tenant, or a clear error when there is none; a tenant's host must pass the URL policy. */
export async function smtpFor(deps: SenderDeps, settings: unknown): Promise<SmtpSettings> {
  let smtp: SmtpSettings | undefined;
  try {
    smtp = resolveSmtpSettings(settings, deps.smtpDefaults);
  } catch (e) {
    throw new SendRunError("smtp_not_configured", (e as Error).message, false);
  }
  if (!smtp) throw new SendRunError("smtp_not_configured", "no SMTP server configured: set the tenant's settings.smtp or SMTP_URL", false);
  if (smtp.source === "tenant") {
    // The tenant names the host: the same policy as webhook URLs, so it cannot aim us at internal addresses.
    try {
      await checkWebhookUrl(`http://${smtp.host.includes(":") ? `[${smtp.host}]` : smtp.host}:${smtp.port}/`, deps.urlPolicy, deps.resolve);
    } catch (e) {
      if (e instanceof UrlPolicyError) throw new SendRunError("smtp_host_refused", `SMTP host ${smtp.host} is refused: ${e.message}`, false);
      throw e;
    }
  }
  return smtp;
}

export function unsubscribeUrl(deps: SenderDeps, tenantId: string, leadId: string, campaignId: string): string {
  const base = deps.publicUrl();
  if (!base) throw new SendRunError("public_url_missing", "PUBLIC_URL is not set: unsubscribe links need the gateway's public URL", false);
  const token = signUnsubscribeToken(deps.unsubscribeKey, { tenantId, leadId, campaignId });
  return `${base.replace(/\/+$/, "")}/campaigns/unsubscribe?token=${token}`;
}

/**
 * Sends a campaign's pending members until none is left, the campaign is paused, or `signal` fires.
 * `onBatch` reports progress (done, total) after each batch.
 */
export async function runCampaign(
  deps: SenderDeps,
  db: Db,
  tenantId: string,
  campaignId: string,
  owner: string,
  signal: AbortSignal,
  onBatch: (done: number, total: number) => Promise<void> = async () => undefined,
): Promise<SendOutcome> {
  const claimed = await db((tx) => store.claimCampaign(tx, campaignId, owner, deps.leaseMs));
  if (!claimed) {
    const current = await db((tx) => store.campaignById(tx, campaignId));
    return { claimed: false, status: current?.status };
  }
  const total = await db((tx) => store.countPending(tx, campaignId));
  let done = 0;
  let mailer: Mailer | undefined;
  let smtp: SmtpSettings | undefined;
  try {
    for (;;) {
      const batch = await db((tx) => store.pendingMembers(tx, campaignId, deps.batchSize));
      if (!batch.length) break;
      for (const m of batch) {
        if (signal.aborted) return { claimed: true, status: "running", stoppedBy: "aborted" };
        const status = await db((tx) => store.renewLease(tx, campaignId, owner, deps.leaseMs));
        if (status !== "running") return { claimed: true, status, stoppedBy: status === undefined ? "lease_lost" : status === "paused" ? "paused" : "cancelled" };
        const ref = { memberId: m.member_id, campaignId, leadId: m.lead_id, channel: m.channel };
        const lead: LeadFields = {
          email: m.email, firstName: m.first_name, lastName: m.last_name, title: m.title, company: m.company,
          domain: m.domain, city: m.city, country: m.country, industry: m.industry, attributes: m.attributes,
        };
        if (m.channel === "email") {
          if (m.unsubscribed_at || m.email_bounced_at || !m.email) {
            const reason = m.unsubscribed_at ? "unsubscribed" : m.email_bounced_at ? "address bounced before" : "no email address";
            await db((tx) => store.recordOutcome(tx, ref, { status: "skipped", error: reason }));
          } else {
            if (!smtp) {
              const settings = await db((tx) => store.tenantSettings(tx));
              smtp = await smtpFor(deps, settings);
              mailer = deps.mailerFactory(smtp);
            }
            const link = unsubscribeUrl(deps, tenantId, m.lead_id, campaignId);
            const rendered = renderMessage(claimed.template, lead, link);
            const messageId = memberMessageId(m.member_id, smtp.from);
            try {
              await mailer!.send({
                from: smtp.from,
                to: m.email,
                subject: rendered.subject,
                text: rendered.text,
                ...(rendered.html ? { html: rendered.html } : {}),
                messageId,
                headers: {
                  // RFC 2369 and RFC 8058 (one-click): mail clients show an unsubscribe button.
                  "List-Unsubscribe": `<${link}>`,
                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                  "X-DealScale-Campaign": campaignId,
                },
              });
              await db((tx) => store.recordOutcome(tx, ref, { status: "sent", messageId, recipient: m.email }));
            } catch (e) {
              const err = e instanceof DeliveryError ? e : new DeliveryError("transport", (e as Error).message);
              if (err.kind === "bounced") await db((tx) => store.recordOutcome(tx, ref, { status: "bounced", messageId, recipient: m.email, error: err.message }));
              else if (err.kind === "failed") await db((tx) => store.recordOutcome(tx, ref, { status: "failed", recipient: m.email, error: err.message }));
              else if (err.kind === "auth") throw new SendRunError("smtp_auth_failed", err.message, false);
              else throw new SendRunError("smtp_unavailable", err.message, true);
            }
          }
        } else {
          try {
            if (!deps.linkedin.configured) throw new DeliveryError("failed", "linkedin provider not configured");
            const text = renderString(claimed.template.linkedinMessage ?? claimed.template.body, lead);
            const r = await deps.linkedin.sendMessage({ leadId: m.lead_id, linkedinUrl: m.linkedin_url, firstName: m.first_name, lastName: m.last_name }, text, signal);
            await db((tx) => store.recordOutcome(tx, ref, { status: "sent", externalId: r.externalId, recipient: m.linkedin_url }));
          } catch (e) {
            await db((tx) => store.recordOutcome(tx, ref, { status: "failed", error: (e as Error).message || "linkedin delivery failed" }));
          }
        }
        done++;
      }
      await onBatch(done, total);
    }
    const completed = await db((tx) => store.completeIfDone(tx, campaignId, owner));
    return { claimed: true, status: completed ? "completed" : (await db((tx) => store.campaignById(tx, campaignId)))?.status };
  } catch (e) {
    if (e instanceof SendRunError) {
      if (e.retryable) await db((tx) => store.releaseLease(tx, campaignId, owner, deps.transportRetryMs)).catch(() => undefined);
      else await db((tx) => store.setCampaignStatus(tx, campaignId, "failed", owner, `${e.code}: ${e.message}`)).catch(() => undefined);
    } else {
      await db((tx) => store.releaseLease(tx, campaignId, owner, deps.transportRetryMs)).catch(() => undefined);
    }
    throw e;
  } finally {
    mailer?.close();
  }
}
