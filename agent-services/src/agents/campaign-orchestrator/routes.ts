/**
 * The CampaignOrchestrator's own routes, mounted on the gateway (index.ts mountRoutes):
 *
 * - `GET /campaigns/unsubscribe?token=...` (public, no login): a confirmation page whose button
 *   POSTs back. A GET never unsubscribes, so mail scanners that prefetch links cannot.
 * - `POST /campaigns/unsubscribe?token=...` (public): the unsubscribe itself; also the RFC 8058
 *   one-click target of the List-Unsubscribe-Post header (body `List-Unsubscribe=One-Click`). The
 *   token is an HMAC (key derived from A2A_JWT_SECRET) over tenant, lead and campaign.
 * - `POST /campaigns/bounces` (bearer, a2a:call): a DSN-style bounce report, `{bounces: [{messageId?,
 *   email?, action?, status?, diagnosticCode?}]}` (RFC 3464 fields); hard bounces mark the sent
 *   members of the caller's tenant bounced and suppress the address.
 */
import type express from "express";
import type { Request, Response } from "express";
import type { Pool } from "pg";
import type { TaskService } from "../../tasks/task-service";
import { withTenant } from "../../store/tenant-tx";
import { isUuid } from "../../lib/uuid";
import { forbidden, invalidInput } from "../../tasks/errors";
import type { AgentRouteKit } from "../agent";
import { verifyUnsubscribeToken } from "./domain/unsubscribe-token";
import { bounceVerdict, normaliseMessageId, type BounceReport } from "./domain/delivery";
import { escapeHtml } from "./domain/template";
import { markBounced, unsubscribeLead } from "./store";

export interface CampaignRouteDeps {
  pool: Pool;
  unsubscribeKey: Buffer;
  /** For the audit row of a body that names another tenant. */
  service?: TaskService;
}

export const MAX_BOUNCES_PER_REQUEST = 1000;

const page = (title: string, body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${escapeHtml(title)}</title></head>` +
  `<body style="font-family:sans-serif;max-width:32rem;margin:3rem auto">${body}</body></html>`;

export function mountCampaignRoutes(app: express.Router, { route, scopes }: Pick<AgentRouteKit, "route" | "scopes">, deps: CampaignRouteDeps): void {
  const claimsOf = (req: Request) => {
    const claims = verifyUnsubscribeToken(deps.unsubscribeKey, req.query.token);
    return claims && isUuid(claims.tenantId) && isUuid(claims.leadId) && isUuid(claims.campaignId) ? claims : undefined;
  };
  const invalid = (res: Response) =>
    res.status(400).type("html").send(page("Invalid link", "<h1>This unsubscribe link is not valid</h1><p>Please use the link from the most recent email.</p>"));

  app.get("/campaigns/unsubscribe", (req, res) => {
    if (!claimsOf(req)) return void invalid(res);
    const action = `/campaigns/unsubscribe?token=${encodeURIComponent(String(req.query.token))}`;
    res.set("Cache-Control", "no-store").type("html").send(page(
      "Unsubscribe",
      `<h1>Unsubscribe</h1><p>Stop receiving these emails?</p><form method="post" action="${escapeHtml(action)}">` +
        `<input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
    ));
  });

  app.post("/campaigns/unsubscribe", async (req, res, next) => {
    try {
      const claims = claimsOf(req);
      if (!claims) return void invalid(res);
      // Idempotent and silent about unknown leads: the answer is the same either way.
      await withTenant(deps.pool, claims.tenantId, (tx) => unsubscribeLead(tx, claims.leadId, claims.campaignId));
      res.set("Cache-Control", "no-store").type("html").send(page("Unsubscribed", "<h1>You are unsubscribed</h1><p>You will not receive further emails from this sender.</p>"));
    } catch (e) {
      next(e);
    }
  });

  app.post("/campaigns/bounces", route(scopes.call, async (req, res, caller) => {
    const body = req.body as { bounces?: unknown; tenantId?: unknown } | undefined;
    if (body?.tenantId !== undefined && body.tenantId !== caller.tenantId) {
      await deps.service?.auditRefusal(caller, "campaign-orchestrator", "tenant_mismatch", "bounce report names another tenant than its token", { namedTenant: String(body.tenantId) });
      throw forbidden("the request names another tenant than its token");
    }
    const list = Array.isArray(body?.bounces) ? body!.bounces : Array.isArray(req.body) ? (req.body as unknown[]) : undefined;
    if (!list || !list.length) throw invalidInput("bounces must be a non-empty list", { errors: [{ path: "/bounces", message: "must be a non-empty array" }] });
    if (list.length > MAX_BOUNCES_PER_REQUEST) throw invalidInput(`at most ${MAX_BOUNCES_PER_REQUEST} bounces per request`, { errors: [{ path: "/bounces", message: `must have at most ${MAX_BOUNCES_PER_REQUEST} items` }] });
    const reports: BounceReport[] = [];
    const issues: { path: string; message: string }[] = [];
    list.forEach((raw, i) => {
      const r = raw as Record<string, unknown>;
      const str = (k: string) => (typeof r?.[k] === "string" && (r[k] as string).trim() ? (r[k] as string).trim().slice(0, 998) : undefined);
      const messageId = str("messageId") ?? str("originalMessageId");
      const email = str("email") ?? str("finalRecipient")?.replace(/^rfc822;\s*/i, "");
      if (!messageId && !email) issues.push({ path: `/bounces/${i}`, message: "needs messageId or email" });
      reports.push({ messageId: messageId ? normaliseMessageId(messageId) : undefined, email, action: str("action"), status: str("status"), diagnosticCode: str("diagnosticCode") });
    });
    if (issues.length) throw invalidInput(`${issues[0].path.slice(1)} ${issues[0].message}`, { errors: issues });

    const results = await withTenant(deps.pool, caller.tenantId, async (tx) => {
      const out: { messageId?: string; email?: string; outcome: "bounced" | "unmatched" | "ignored"; members?: number; reason: string }[] = [];
      for (const r of reports) {
        const v = bounceVerdict(r);
        if (!v.hard) {
          out.push({ messageId: r.messageId, email: r.email, outcome: "ignored", reason: v.reason });
          continue;
        }
        const n = await markBounced(tx, { messageId: r.messageId, email: r.email, reason: v.reason });
        out.push({ messageId: r.messageId, email: r.email, outcome: n ? "bounced" : "unmatched", members: n, reason: v.reason });
      }
      return out;
    });
    res.json({
      received: reports.length,
      bounced: results.filter((r) => r.outcome === "bounced").reduce((s, r) => s + (r.members ?? 0), 0),
      unmatched: results.filter((r) => r.outcome === "unmatched").length,
      ignored: results.filter((r) => r.outcome === "ignored").length,
      results,
    });
  }));
}
