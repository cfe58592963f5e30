/**
 * REST routes of webhook subscriptions, mounted by the gateway with its authenticating `route`
 * wrapper. Creating and deleting need scope a2a:call; reading a2a:read (or a2a:call). The signing
 * secret of callbackUrl deliveries is a credential, so reading it needs a2a:call.
 */
import type express from "express";
import type { Request, RequestHandler, Response } from "express";
import type { Caller } from "../tasks/task-service";
import type { WebhookService } from "./service";

type Handler = (req: Request, res: Response, caller: Caller) => Promise<void>;
type Route = (scopes: string[], fn: Handler) => RequestHandler;

export function mountWebhookRoutes(app: express.Express, route: Route, webhooks: WebhookService, scopes: { read: string[]; call: string[] }): void {
  app.post("/webhooks", route(scopes.call, async (req, res, caller) => {
    const created = await webhooks.createSubscription(caller, req.body ?? {});
    res.status(201).location(`/webhooks/${created.id}`).json(created);
  }));

  app.get("/webhooks", route(scopes.read, async (_req, res, caller) => {
    res.json(await webhooks.listSubscriptions(caller));
  }));

  // Before /webhooks/:id, which would take "signing-secret" for an id.
  app.get("/webhooks/signing-secret", route(scopes.call, async (_req, res, caller) => {
    res.set("Cache-Control", "no-store").json(await webhooks.signingSecret(caller));
  }));

  app.post("/webhooks/signing-secret/rotate", route(scopes.call, async (_req, res, caller) => {
    res.set("Cache-Control", "no-store").json(await webhooks.signingSecret(caller, true));
  }));

  app.get("/webhooks/:id", route(scopes.read, async (req, res, caller) => {
    res.json(await webhooks.getSubscription(caller, String(req.params.id)));
  }));

  app.delete("/webhooks/:id", route(scopes.call, async (req, res, caller) => {
    await webhooks.deleteSubscription(caller, String(req.params.id));
    res.status(204).end();
  }));
}
