/**
 * CampaignOrchestrator against a real local SMTP server (smtp-server on 127.0.0.1), mails parsed
 * with mailparser: rendering, List-Unsubscribe, the public unsubscribe link, bounces (at send time
 * and reported), LinkedIn without a provider, stats, pause, scheduled sends and tenancy.
 */
import type { AddressInfo } from "node:net";
import pino from "pino";
import { SMTPServer } from "smtp-server";
import { simpleParser, type ParsedMail } from "mailparser";
import { eventually, startTestStack, sleep, type TestStack } from "./support/harness";
import { startStack } from "../src/stack";

const A = "campaign-orchestrator";
let t: TestStack;
let tenant: string;
let token: string;
let smtp: SMTPServer;
const received: ParsedMail[] = [];
let smtpDelayMs = 0;

beforeAll(async () => {
  smtp = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, cb) {
      // A mailbox the server refuses for good: RCPT TO answered 550.
      if (address.address.startsWith("nobody")) return cb(Object.assign(new Error("5.1.1 <" + address.address + ">: mailbox unavailable"), { responseCode: 550 }));
      cb();
    },
    onData(stream, _session, cb) {
      simpleParser(stream).then(
        (mail) => {
          received.push(mail);
          setTimeout(() => cb(), smtpDelayMs);
        },
        (err) => cb(err),
      );
    },
  });
  await new Promise<void>((resolve) => smtp.listen(0, "127.0.0.1", () => resolve()));
  const port = (smtp.server.address() as AddressInfo).port;
  t = await startTestStack({
    SMTP_URL: `smtp://127.0.0.1:${port}`,
    SMTP_FROM: "DealScale Campaigns <campaigns@dealscale.test>",
    CAMPAIGN_SWEEP_INTERVAL_MS: "200",
    CAMPAIGN_BATCH_SIZE: "2",
    WEBHOOK_ALLOW_PRIVATE: "true",
  });
  tenant = await t.tenant(1000);
  token = t.token(tenant);
});
afterAll(async () => {
  await t?.close();
  await new Promise<void>((resolve) => smtp.close(() => resolve()));
});

async function lead(tenantId: string, fields: { email?: string | null; firstName?: string; lastName?: string; company?: string; linkedinUrl?: string }): Promise<string> {
  const { rows } = await t.owner.query(
    "INSERT INTO leads (tenant_id, email, first_name, last_name, company, linkedin_url) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    [tenantId, fields.email ?? null, fields.firstName ?? null, fields.lastName ?? null, fields.company ?? null, fields.linkedinUrl ?? null],
  );
  return rows[0].id;
}

async function run(type: string, inputs: Record<string, unknown>, tok = token, statuses = ["completed", "failed"], timeoutMs = 20_000) {
  const res = await t.request("POST", `/agents/${A}/tasks`, { token: tok, body: { type, inputs } });
  expect(res.status).toBe(202);
  return t.waitForStatus(tok, A, res.body.taskId, statuses, timeoutMs);
}

const mailsTo = (addr: string) => received.filter((m) => (Array.isArray(m.to) ? m.to : [m.to]).some((a) => a?.value.some((v) => v.address === addr)));
const header = (m: ParsedMail, name: string) => m.headerLines.find((h) => h.key === name.toLowerCase())?.line.replace(/^[^:]+:\s*/, "");
const members = async (campaignId: string) =>
  (await t.owner.query("SELECT m.lead_id, m.channel, m.status, m.error, m.message_id, l.email FROM campaign_members m JOIN leads l ON l.id = m.lead_id WHERE campaign_id = $1 ORDER BY l.email", [campaignId])).rows;
const template = {
  subject: "Hello {{firstName|there}} from {{company}}",
  body: "<p>Hi {{firstName|there}},</p><p>We help {{company}} grow.</p>",
};

let firstCampaign: string;
let adaId: string;

test("launchCampaign sends rendered mails with List-Unsubscribe and records every member", async () => {
  adaId = await lead(tenant, { email: "ada@example.test", firstName: "Ada", company: "Lovelace & Co" });
  const bob = await lead(tenant, { email: "bob@example.test", firstName: "<b>Bob</b>", company: "Acme" });
  const none = await lead(tenant, { email: "carol@example.test", company: "Initech" });
  const noEmail = await lead(tenant, { firstName: "Dan" });
  const task = await run("launchCampaign", { audienceLeadIds: [adaId, bob, none, noEmail], campaignName: "Launch", channels: ["email"], template });
  expect(task.status).toBe("completed");
  expect(task.outputs).toMatchObject({ status: "completed", membersAdded: 4, perChannel: { email: { members: 4, sent: 3, skipped: 1, pending: 0 } }, refusedLeadIds: [] });
  expect(task.creditsUsed).toBe(2);
  firstCampaign = task.outputs.campaignId;

  const ada = mailsTo("ada@example.test")[0];
  expect(ada.subject).toBe("Hello Ada from Lovelace & Co");
  expect(ada.html).toContain("We help Lovelace &amp; Co grow.");
  expect(ada.text).toContain("Hi Ada,");
  expect(header(ada, "List-Unsubscribe")).toMatch(new RegExp(`^<${t.url}/campaigns/unsubscribe\\?token=[\\w-]+\\.[\\w-]+>$`));
  expect(header(ada, "List-Unsubscribe-Post")).toBe("List-Unsubscribe=One-Click");
  expect(ada.html).toContain(`${t.url}/campaigns/unsubscribe?token=`);
  // Lead data is escaped in HTML bodies; the fallback fills a missing field.
  const bobMail = mailsTo("bob@example.test")[0];
  expect(bobMail.html).toContain("Hi &lt;b&gt;Bob&lt;/b&gt;,");
  expect(mailsTo("carol@example.test")[0].subject).toBe("Hello there from Initech");

  const rows = await members(firstCampaign);
  expect(rows.map((r) => r.status).sort()).toEqual(["sent", "sent", "sent", "skipped"]);
  expect(rows.find((r) => r.email === null)).toMatchObject({ status: "skipped", error: "no email address" });
  expect(rows.find((r) => r.email === "ada@example.test").message_id).toBe(ada.messageId);
});

test("a malformed address is skipped, never sent to what SMTP would make of it", async () => {
  const eve = await lead(tenant, { email: "eve@example,test", firstName: "Eve" });
  const gina = await lead(tenant, { email: "gina@example.test", firstName: "Gina" });
  const task = await run("launchCampaign", { audienceLeadIds: [eve, gina], campaignName: "Malformed", channels: ["email"], template });
  expect(task.outputs).toMatchObject({ perChannel: { email: { members: 2, sent: 1, skipped: 1 } } });
  const rows = await members(task.outputs.campaignId);
  expect(rows.find((r) => r.email === "eve@example,test")).toMatchObject({ status: "skipped", error: "invalid email address" });
  expect(mailsTo("gina@example.test")).toHaveLength(1);
  expect(received.filter((m) => /eve@/.test(String((m.to as { text?: string })?.text)))).toHaveLength(0);
});

test("the unsubscribe link works without a login and the next campaign skips that lead", async () => {
  const link = header(mailsTo("ada@example.test")[0], "List-Unsubscribe")!.replace(/^<|>$/g, "");
  const path = link.slice(t.url.length);
  const page = await fetch(link);
  expect(page.status).toBe(200);
  expect(await page.text()).toContain('method="post"');
  // A GET alone (a mail scanner prefetching) does not unsubscribe.
  expect((await t.owner.query("SELECT unsubscribed_at FROM leads WHERE id = $1", [adaId])).rows[0].unsubscribed_at).toBeNull();

  const one = await fetch(link, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: "List-Unsubscribe=One-Click" });
  expect(one.status).toBe(200);
  expect((await t.owner.query("SELECT unsubscribed_at FROM leads WHERE id = $1", [adaId])).rows[0].unsubscribed_at).not.toBeNull();
  expect((await members(firstCampaign)).find((r) => r.email === "ada@example.test").status).toBe("unsubscribed");
  expect((await t.request("POST", path)).status).toBe(200); // idempotent

  const forged = await fetch(link.replace(/\.[\w-]+$/, ".AAAA"), { method: "POST" });
  expect(forged.status).toBe(400);

  const before = mailsTo("ada@example.test").length;
  const eve = await lead(tenant, { email: "eve@example.test", firstName: "Eve", company: "Eve Inc" });
  const task = await run("launchCampaign", { audienceLeadIds: [adaId, eve], campaignName: "Second", channels: ["email"], template });
  expect(task.outputs.perChannel.email).toMatchObject({ sent: 1, skipped: 1 });
  expect(mailsTo("ada@example.test")).toHaveLength(before);
  expect(mailsTo("eve@example.test")).toHaveLength(1);
  expect((await members(task.outputs.campaignId)).find((r) => r.email === "ada@example.test")).toMatchObject({ status: "skipped", error: "unsubscribed" });

  const stats = await run("getCampaignStats", { campaignId: firstCampaign });
  expect(stats.outputs).toMatchObject({ members: 4, sent: 3, unsubscribed: 1, skipped: 1 });
});

test("a recipient the SMTP server rejects is bounced, and the address is suppressed", async () => {
  const gone = await lead(tenant, { email: "nobody@example.test", firstName: "No" });
  const fine = await lead(tenant, { email: "fine@example.test", firstName: "Fine" });
  const task = await run("launchCampaign", { audienceLeadIds: [gone, fine], campaignName: "Bounce", channels: ["email"], template });
  expect(task.outputs).toMatchObject({ status: "completed", perChannel: { email: { sent: 1, bounced: 1 } } });
  const row = (await members(task.outputs.campaignId)).find((r) => r.email === "nobody@example.test");
  expect(row.status).toBe("bounced");
  expect(row.error).toMatch(/550|mailbox unavailable/);
  expect((await t.owner.query("SELECT email_bounced_at FROM leads WHERE id = $1", [gone])).rows[0].email_bounced_at).not.toBeNull();
  const again = await run("launchCampaign", { audienceLeadIds: [gone], campaignName: "Bounce again", channels: ["email"], template });
  expect(again.outputs.perChannel.email).toMatchObject({ skipped: 1, sent: 0 });
});

test("POST /campaigns/bounces marks sent members bounced from a DSN-style report", async () => {
  const frank = await lead(tenant, { email: "frank@example.test", firstName: "Frank" });
  const task = await run("launchCampaign", { audienceLeadIds: [frank], campaignName: "DSN", channels: ["email"], template });
  const messageId = mailsTo("frank@example.test")[0].messageId!;

  expect((await t.request("POST", "/campaigns/bounces", { body: { bounces: [{ messageId }] } })).status).toBe(401);
  expect((await t.request("POST", "/campaigns/bounces", { token: t.token(tenant, ["a2a:read"]), body: { bounces: [{ messageId }] } })).status).toBe(403);
  expect((await t.request("POST", "/campaigns/bounces", { token, body: { bounces: [{}] } })).status).toBe(400);
  // Another tenant cannot bounce this tenant's members.
  const other = await t.tenant(10);
  const foreign = await t.request("POST", "/campaigns/bounces", { token: t.token(other), body: { bounces: [{ messageId, action: "failed", status: "5.1.1" }] } });
  expect(foreign.body).toMatchObject({ bounced: 0, unmatched: 1 });

  const res = await t.request("POST", "/campaigns/bounces", {
    token,
    body: {
      bounces: [
        { messageId: messageId.replace(/^<|>$/g, ""), action: "failed", status: "5.1.1", diagnosticCode: "smtp; 550 5.1.1 user unknown" },
        { email: "frank@example.test", action: "delayed", status: "4.4.1" },
        { email: "stranger@example.test", action: "failed", status: "5.1.1" },
      ],
    },
  });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ received: 3, bounced: 1, unmatched: 1, ignored: 1 });
  expect((await members(task.outputs.campaignId))[0]).toMatchObject({ status: "bounced" });
  const stats = await run("getCampaignStats", { campaignId: task.outputs.campaignId });
  expect(stats.outputs).toMatchObject({ members: 1, sent: 1, delivered: 0, bounced: 1 });
});

test("a LinkedIn member fails clearly when no provider is configured", async () => {
  const gina = await lead(tenant, { email: "gina@example.test", firstName: "Gina", linkedinUrl: "https://www.linkedin.com/in/gina" });
  const task = await run("launchCampaign", { audienceLeadIds: [gina], campaignName: "LinkedIn", channels: ["email", "linkedin"], template: { ...template, linkedinMessage: "Hi {{firstName}}" } });
  expect(task.status).toBe("completed");
  expect(task.outputs.perChannel).toMatchObject({ email: { sent: 1 }, linkedin: { members: 1, failed: 1, sent: 0 } });
  const rows = await members(task.outputs.campaignId);
  expect(rows.find((r) => r.channel === "linkedin")).toMatchObject({ status: "failed", error: "linkedin provider not configured" });
});

test("getCampaignStats counts per channel; unknown campaigns fail clearly", async () => {
  const stats = await run("getCampaignStats", { campaignId: firstCampaign });
  expect(stats.status).toBe("completed");
  expect(stats.outputs).toMatchObject({ campaignId: firstCampaign, status: "completed", members: 4, byChannel: { email: { members: 4 } } });
  const missing = await run("getCampaignStats", { campaignId: "00000000-0000-4000-8000-000000000000" });
  expect(missing.error.code).toBe("campaign_not_found");
});

test("pauseCampaign stops a running send between two mails; the rest stay pending", async () => {
  const ids: string[] = [];
  for (let i = 0; i < 10; i++) ids.push(await lead(tenant, { email: `slow${i}@example.test`, firstName: `S${i}` }));
  smtpDelayMs = 250;
  try {
    const res = await t.request("POST", `/agents/${A}/tasks`, { token, body: { type: "launchCampaign", inputs: { audienceLeadIds: ids, campaignName: "Slow", channels: ["email"], template } } });
    await eventually("two of the slow campaign's mails", () => received.filter((m) => /slow\d@/.test(String((m.to as { text?: string })?.text))).length >= 2, 10_000);
    const campaignId = (await t.owner.query("SELECT id FROM campaigns WHERE task_id = $1", [res.body.taskId])).rows[0].id;
    const paused = await run("pauseCampaign", { campaignId, reason: "wrong audience" });
    expect(paused.outputs).toMatchObject({ campaignId, status: "paused", previousStatus: "running" });
    const launch = await t.waitForStatus(token, A, res.body.taskId, ["completed", "failed"]);
    expect(launch.outputs).toMatchObject({ status: "paused", stoppedBy: "paused" });
    const rows = await members(campaignId);
    const pending = rows.filter((r) => r.status === "pending").length;
    expect(pending).toBeGreaterThan(0);
    expect(rows.filter((r) => r.status === "sent").length).toBe(10 - pending);
    await sleep(600); // the sweep does not resume a paused campaign
    expect((await members(campaignId)).filter((r) => r.status === "pending").length).toBe(pending);
  } finally {
    smtpDelayMs = 0;
  }
});

test("a scheduled campaign waits, then is sent when due by whichever worker is alive", async () => {
  const hank = await lead(tenant, { email: "hank@example.test", firstName: "Hank" });
  const startAt = new Date(Date.now() + 2500).toISOString();
  const task = await run("launchCampaign", { audienceLeadIds: [hank], campaignName: "Later", channels: ["email"], template, schedule: { startAt } });
  expect(task.outputs).toMatchObject({ status: "scheduled", scheduledAt: new Date(startAt).toISOString(), perChannel: { email: { pending: 1 } } });
  // The worker that accepted it goes away; the schedule lives in Postgres, so another process sends it.
  await t.stack.agents.find((a) => a.card.agentId === "campaign-orchestrator")!.background!.stop();
  expect(mailsTo("hank@example.test")).toHaveLength(0);
  const other = await startStack({ ...t.config, publicUrl: t.url }, { log: pino({ level: "silent" }), listen: false });
  try {
    await eventually("hank's mail", () => mailsTo("hank@example.test").length === 1, 10_000);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(startAt));
    await eventually("the campaign to complete", async () => (await t.owner.query("SELECT status FROM campaigns WHERE id = $1", [task.outputs.campaignId])).rows[0].status === "completed", 10_000);
  } finally {
    await other.stop(0);
  }
});

test("another tenant's leads are refused and never touched", async () => {
  const other = await t.tenant(100);
  const theirs = await lead(other, { email: "theirs@example.test", firstName: "Them" });
  const mine = await lead(tenant, { email: "mine@example.test", firstName: "Me" });
  const refused = await run("launchCampaign", { audienceLeadIds: [theirs], campaignName: "Steal", channels: ["email"], template });
  expect(refused.status).toBe("failed");
  expect(refused.error.code).toBe("no_audience");
  const mixed = await run("launchCampaign", { audienceLeadIds: [mine, theirs], campaignName: "Mixed", channels: ["email"], template });
  expect(mixed.outputs).toMatchObject({ membersAdded: 1, refusedLeadIds: [theirs] });
  expect(mixed.creditsUsed).toBe(0.5);
  expect(mailsTo("theirs@example.test")).toHaveLength(0);
  expect((await t.owner.query("SELECT count(*)::int AS n FROM campaign_members WHERE lead_id = $1", [theirs])).rows[0].n).toBe(0);
});
