/**
 * Message templates: `{{field}}` placeholders filled from a lead, with an optional fallback
 * (`{{firstName|there}}`). Values are escaped in HTML bodies (the template's own markup is kept);
 * text bodies and subjects get the values as they are. Pure code.
 */

export interface LeadFields {
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  title?: string | null;
  company?: string | null;
  domain?: string | null;
  city?: string | null;
  country?: string | null;
  industry?: string | null;
  attributes?: Record<string, unknown> | null;
}

export interface RenderedMessage {
  subject: string;
  text: string;
  html?: string;
}

const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(?:\|([^}]*))?\}\}/g;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

/** A body is HTML when it contains an element tag. */
export function isHtml(body: string): boolean {
  return /<\/?[a-z][a-z0-9]*(\s[^>]*)?\/?>/i.test(body);
}

/** The value of a placeholder: lead fields by name, `fullName`, `unsubscribeUrl`, `attributes.x` or a bare attribute name. */
export function fieldValue(lead: LeadFields, name: string, extra: Record<string, string> = {}): string | undefined {
  if (name in extra) return extra[name];
  if (name === "fullName") return [lead.firstName, lead.lastName].filter(Boolean).join(" ") || undefined;
  const direct = (lead as Record<string, unknown>)[name];
  if (name !== "attributes" && direct !== undefined && direct !== null && direct !== "") return String(direct);
  const attrName = name.startsWith("attributes.") ? name.slice("attributes.".length) : name;
  const attr = lead.attributes?.[attrName];
  if (attr !== undefined && attr !== null && attr !== "" && typeof attr !== "object") return String(attr);
  return undefined;
}

export function renderString(template: string, lead: LeadFields, opts: { html?: boolean; extra?: Record<string, string> } = {}): string {
  return template.replace(PLACEHOLDER, (_m, name: string, fallback: string | undefined) => {
    const value = fieldValue(lead, name, opts.extra) ?? fallback?.trim() ?? "";
    // The unsubscribe URL is ours and already URL-safe; in HTML it still goes through escaping (& in queries).
    return opts.html ? escapeHtml(value) : value;
  });
}

/** HTML to a readable plain-text alternative. */
export function htmlToText(html: string): string {
  return html
    .replace(/<(br|\/p|\/div|\/h[1-6]|\/li|\/tr)\s*\/?>/gi, "\n")
    .replace(/<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi, "$2 ($1)")
    .replace(/<[^>]+>/g, "")
    .replace(/&nbsp;/g, " ").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&")
    .replace(/\n{3,}/g, "\n\n")
    .trim();
}

/**
 * Renders subject and body for one lead. An unsubscribe link is appended unless the template
 * places `{{unsubscribeUrl}}` itself.
 */
export function renderMessage(template: { subject?: string; body: string }, lead: LeadFields, unsubscribeUrl: string): RenderedMessage {
  const extra = { unsubscribeUrl };
  const subject = renderString(template.subject ?? "", lead, { extra }).replace(/[\r\n]+/g, " ").trim();
  const placesLink = /\{\{\s*unsubscribeUrl\s*(\|[^}]*)?\}\}/.test(template.body);
  if (isHtml(template.body)) {
    let html = renderString(template.body, lead, { html: true, extra });
    if (!placesLink) html += `\n<p style="font-size:12px;color:#666"><a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`;
    return { subject, html, text: htmlToText(html) };
  }
  let text = renderString(template.body, lead, { extra });
  if (!placesLink) text += `\n\n--\nUnsubscribe: ${unsubscribeUrl}`;
  return { subject, text };
}
