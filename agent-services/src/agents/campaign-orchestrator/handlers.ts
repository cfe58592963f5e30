/**
 * The capability handlers of this agent, by capability name; the runtime fails the others as not
 * implemented.
 *
 * They need the service's configuration (SMTP defaults, the URL policy, the unsubscribe key, the
 * public URL), so the stack builds them with `createCampaignOrchestrator(deps)` and puts them in
 * place of the empty static `handlers` below; the factory also returns the due-campaign sweep.
 */
import type { Pool } from "pg";
import { TaskError, type CapabilityHandler, type HandlerContext } from "../../protocol/agent-contract";
import type { Resolver, UrlPolicy } from "../../lib/url-policy";
import { countMembers, parseSmtpUrl, unconfiguredLinkedIn, type Channel, type LinkedInProvider, type Mailer, type SmtpSettings } from "./domain/delivery";
import { deriveUnsubscribeKey } from "./domain/unsubscribe-token";
import { isValidEmail } from "../data-engineer/domain/normalize";
import { createSmtpMailer } from "./smtp-mailer";
import { CampaignScheduler, type SchedulerLogger } from "./scheduler";
import { newSenderId, runCampaign, SendRunError, smtpFor, type SenderDeps } from "./sender";
import * as store from "./store";

export interface CampaignOrchestratorDeps {
  pool: Pool;
  /** A2A_JWT_SECRET: the unsubscribe key is derived from it. */
  secret: string;
  publicUrl: () => string | undefined;
  /** SMTP_URL / SMTP_FROM. */
  smtpUrl?: string;
  smtpFrom?: string;
  urlPolicy: UrlPolicy;
  resolve?: Resolver;
  linkedin?: LinkedInProvider;
  mailerFactory?: (settings: SmtpSettings) => Mailer;
  sweepIntervalMs: number;
  leaseMs?: number;
  batchSize?: number;
  log: SchedulerLogger;
}

export interface CampaignOrchestrator {
  handlers: Record<string, CapabilityHandler>;
  scheduler: CampaignScheduler;
  unsubscribeKey: Buffer;
}

const CREDITS_PER_LEAD = 0.5;

interface LaunchInputs {
  audienceLeadIds: string[];
  campaignName: string;
  channels: Channel[];
  template: { subject?: string; body: string; linkedinMessage?: string };
  schedule?: { startAt: string; timezone?: string };
}

export function createCampaignOrchestrator(deps: CampaignOrchestratorDeps): CampaignOrchestrator {
  const unsubscribeKey = deriveUnsubscribeKey(deps.secret);
  const sender: SenderDeps = {
    unsubscribeKey,
    publicUrl: deps.publicUrl,
    smtpDefaults: deps.smtpUrl ? parseSmtpUrl(deps.smtpUrl, deps.smtpFrom) : undefined,
    urlPolicy: deps.urlPolicy,
    resolve: deps.resolve,
    linkedin: deps.linkedin ?? unconfiguredLinkedIn,
    mailerFactory: deps.mailerFactory ?? ((s) => createSmtpMailer(s)),
    leaseMs: deps.leaseMs ?? 120_000,
    batchSize: deps.batchSize ?? 25,
    transportRetryMs: 60_000,
  };
  const scheduler = new CampaignScheduler(deps.pool, sender, deps.log, deps.sweepIntervalMs);

  const outputs = async (ctx: HandlerContext, campaignId: string) => {
    const { campaign, rows } = await ctx.db(async (tx) => ({ campaign: await store.campaignById(tx, campaignId), rows: await store.memberCounts(tx, campaignId) }));
    return { campaign: campaign!, counts: countMembers(rows) };
  };

  const launchCampaign: CapabilityHandler = async (ctx) => {
    const inputs = ctx.inputs as unknown as LaunchInputs;
    const channels = [...new Set(inputs.channels)];
    if (channels.includes("email") && !inputs.template.subject?.trim()) {
      throw new TaskError("invalid_template", "an email campaign needs template.subject", { retryable: false });
    }
    let startAt: Date | null = null;
    if (inputs.schedule?.startAt) {
      startAt = new Date(inputs.schedule.startAt);
      if (Number.isNaN(startAt.getTime())) throw new TaskError("invalid_schedule", "schedule.startAt is not a valid date-time", { retryable: false });
    }
    const scheduled = startAt !== null && startAt.getTime() > Date.now() + 1000;

    // Fail before writing anything when the email channel cannot work at all.
    if (channels.includes("email")) {
      try {
        await smtpFor(sender, await ctx.db((tx) => store.tenantSettings(tx)));
        if (!sender.publicUrl()) throw new SendRunError("public_url_missing", "PUBLIC_URL is not set: unsubscribe links need the gateway's public URL", false);
      } catch (e) {
        if (e instanceof SendRunError) throw new TaskError(e.code, e.message, { retryable: e.retryable });
        throw e;
      }
    }

    const requested = [...new Set(inputs.audienceLeadIds)];
    // One transaction: the campaign and its members, or (a retried run) the campaign made before.
    const { campaign, visible } = await ctx.db(async (tx) => {
      const leads = await store.visibleLeads(tx, requested);
      const existing = await store.campaignByTask(tx, ctx.taskId);
      if (existing) return { campaign: existing, visible: leads };
      if (!leads.length) return { campaign: undefined, visible: leads };
      const c = await store.insertCampaign(tx, {
        name: inputs.campaignName,
        status: scheduled ? "scheduled" : "running",
        channels,
        template: inputs.template,
        schedule: inputs.schedule ?? null,
        taskId: ctx.taskId,
        startAt: scheduled ? startAt : null,
      });
      const members = leads.flatMap((l) => channels.map((channel) => {
        if (channel === "email") {
          // A malformed address is never handed to SMTP: "a@b,c" would go to "a@b" (the comma separates recipients).
          const reason = l.unsubscribed_at ? "unsubscribed" : l.email_bounced_at ? "address bounced before"
            : !l.email ? "no email address" : !isValidEmail(l.email) ? "invalid email address" : null;
          return { leadId: l.id, channel, status: reason ? ("skipped" as const) : ("pending" as const), recipient: l.email, error: reason };
        }
        return { leadId: l.id, channel, status: "pending" as const, recipient: null, error: null };
      }));
      await store.insertMembers(tx, c.id, members);
      return { campaign: c, visible: leads };
    });
    const seen = new Set(visible.map((l) => l.id));
    // Another tenant's leads and unknown ids look the same through row-level security: refused, untouched.
    const refusedLeadIds = requested.filter((id) => !seen.has(id));
    if (!campaign) {
      throw new TaskError("no_audience", `none of the ${requested.length} audience leads belongs to this tenant (refused: ${refusedLeadIds.slice(0, 20).join(", ")})`, { retryable: false });
    }
    if (refusedLeadIds.length) ctx.log.warn("audience leads refused: not the tenant's", { refused: refusedLeadIds.length });
    await ctx.progress(5, `campaign ${campaign.id}: ${visible.length} leads, ${refusedLeadIds.length} refused`);

    let stoppedBy: string | undefined;
    if (!scheduled) {
      const owner = newSenderId(`task:${ctx.taskId}`);
      try {
        const r = await runCampaign(sender, ctx.db, ctx.tenantId, campaign.id, owner, ctx.signal, (done, total) =>
          ctx.progress(5 + Math.floor((90 * done) / Math.max(1, total)), `sent ${done} of ${total}`),
        );
        stoppedBy = r.stoppedBy ?? (r.claimed ? undefined : "another_sender");
        if (r.stoppedBy === "aborted") {
          const kind = (ctx.signal.reason as { kind?: string } | undefined)?.kind;
          // A cancelled launch cancels the campaign; a timeout or shutdown hands it to the sweep, which continues it.
          await ctx.db((tx) => (kind === "cancelled" ? store.setCampaignStatus(tx, campaign.id, "cancelled", owner, "launch task cancelled") : store.releaseLease(tx, campaign.id, owner, 0)));
          throw ctx.signal.reason ?? new Error("aborted");
        }
      } catch (e) {
        if (e instanceof SendRunError) throw new TaskError(e.code, e.message, { retryable: e.retryable });
        throw e;
      }
    }

    const { campaign: after, counts } = await outputs(ctx, campaign.id);
    await ctx.progress(100, `campaign ${after.status}`);
    return {
      outputs: {
        campaignId: campaign.id,
        status: after.status,
        membersAdded: visible.length,
        perChannel: counts.byChannel,
        ...(after.start_at ? { scheduledAt: after.start_at.toISOString() } : {}),
        refusedLeadIds,
        ...counts.total,
        ...(stoppedBy ? { stoppedBy } : {}),
      },
      creditsUsed: CREDITS_PER_LEAD * visible.length,
    };
  };

  const getCampaignStats: CapabilityHandler = async (ctx) => {
    const campaignId = String(ctx.inputs.campaignId);
    const { campaign, counts } = await ctx.db(async (tx) => ({ campaign: await store.campaignById(tx, campaignId), counts: countMembers(await store.memberCounts(tx, campaignId)) }));
    if (!campaign) throw new TaskError("campaign_not_found", `campaign ${campaignId} not found`, { retryable: false });
    const { members, sent, delivered, bounced, unsubscribed, failed, pending, skipped } = counts.total;
    return {
      outputs: {
        campaignId,
        name: campaign.name,
        status: campaign.status,
        members, sent, delivered, bounced, unsubscribed, failed, pending, skipped,
        byChannel: counts.byChannel,
        ...(campaign.start_at ? { scheduledAt: campaign.start_at.toISOString() } : {}),
        ...(campaign.pause_reason ? { pauseReason: campaign.pause_reason } : {}),
      },
    };
  };

  const pauseCampaign: CapabilityHandler = async (ctx) => {
    const campaignId = String(ctx.inputs.campaignId);
    const reason = typeof ctx.inputs.reason === "string" ? ctx.inputs.reason : null;
    const r = await ctx.db((tx) => store.pauseCampaign(tx, campaignId, reason));
    if (!r) throw new TaskError("campaign_not_found", `campaign ${campaignId} not found`, { retryable: false });
    if (r.status !== "paused") {
      throw new TaskError("campaign_not_pausable", `campaign ${campaignId} is ${r.status}; only draft, scheduled or running campaigns can be paused`, { retryable: false });
    }
    return { outputs: { campaignId, status: r.status, previousStatus: r.previous, ...(reason ? { reason } : {}) } };
  };

  return { handlers: { launchCampaign, getCampaignStats, pauseCampaign }, scheduler, unsubscribeKey };
}
