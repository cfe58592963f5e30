/**
 * Data-quality checks on leads: required fields, a way to reach the lead, email syntax, phone
 * validity (libphonenumber-js, the lead's country as default region), domain and LinkedIn URL
 * syntax and staleness; `duplicateIssue` words the issue of a lead the dedupe matcher found to
 * duplicate another (known only once a whole population has been compared). Pure.
 */
import { isEmpty, timeOf, type LeadField, type LeadRecord } from "./lead";
import { checkPhone, isValidEmail, normalizeDomain } from "./normalize";

export interface LeadIssue {
  leadId: string;
  field: string;
  code: string;
  message: string;
  [extra: string]: unknown;
}

export interface ValidationReport {
  checked: number;
  valid: number;
  issues: LeadIssue[];
}

export interface ValidateOptions {
  staleAfterDays?: number;
  requiredFields?: LeadField[];
  now?: Date;
  /** Country for phones of leads without a recognised one (ISO code). */
  defaultCountry?: string;
}

export const DEFAULT_REQUIRED_FIELDS: LeadField[] = ["email", "firstName", "lastName", "company"];
const DAY_MS = 86_400_000;

/** The issue of a lead the dedupe matcher found to duplicate another. */
export function duplicateIssue(leadId: string, dup: { survivorId: string; score: number }): LeadIssue {
  return { leadId, field: "lead", code: "duplicate", message: `duplicate of lead ${dup.survivorId}`, duplicateOf: dup.survivorId, score: dup.score };
}

export function validateLeadRecords(leads: LeadRecord[], options: ValidateOptions = {}): ValidationReport {
  const staleAfterDays = options.staleAfterDays ?? 180;
  const required = options.requiredFields ?? DEFAULT_REQUIRED_FIELDS;
  const now = (options.now ?? new Date()).getTime();
  const issues: LeadIssue[] = [];
  let valid = 0;
  for (const lead of leads) {
    const mine: LeadIssue[] = [];
    const add = (field: string, code: string, message: string, extra: Record<string, unknown> = {}) =>
      mine.push({ leadId: lead.id, field, code, message, ...extra });

    for (const f of required) if (isEmpty(lead[f])) add(f, "missing_field", `${f} is empty`);
    if (isEmpty(lead.email) && isEmpty(lead.phone) && isEmpty(lead.linkedinUrl)) {
      add("contact", "no_contact", "no email, phone or LinkedIn profile to reach the lead");
    }
    if (!isEmpty(lead.email) && !isValidEmail(lead.email!)) add("email", "invalid_email", `"${lead.email}" is not a valid email address`);
    if (!isEmpty(lead.phone)) {
      const p = checkPhone(lead.phone, lead.country, options.defaultCountry);
      if (!p.valid) {
        add("phone", "invalid_phone", p.e164
          ? `"${lead.phone}" is not a valid number${p.region ? ` for ${p.region}` : ""}`
          : `"${lead.phone}" cannot be read as a phone number${p.region ? "" : " (no country code and no known country)"}`);
      }
    }
    if (!isEmpty(lead.domain) && !normalizeDomain(lead.domain)) add("domain", "invalid_domain", `"${lead.domain}" is not a domain name`);
    if (!isEmpty(lead.linkedinUrl) && !/^(https?:\/\/)?([a-z]{2,3}\.)?linkedin\.com\/(in|pub|company)\/[^/\s]+/i.test(lead.linkedinUrl!.trim())) {
      add("linkedinUrl", "invalid_url", `"${lead.linkedinUrl}" is not a LinkedIn profile URL`);
    }
    const updated = timeOf(lead.updatedAt ?? lead.createdAt);
    if (updated) {
      const ageDays = Math.floor((now - updated) / DAY_MS);
      if (ageDays >= staleAfterDays) add("updatedAt", "stale", `not updated for ${ageDays} days (limit ${staleAfterDays})`, { ageDays });
    }
    if (!mine.length) valid++;
    issues.push(...mine);
  }
  return { checked: leads.length, valid, issues };
}
