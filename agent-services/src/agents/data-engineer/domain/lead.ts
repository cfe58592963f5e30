/**
 * The lead as the DataEngineer's domain code sees it: the typed fields of the `leads` table (in
 * camelCase) plus free-form typed attributes. Pure: no I/O, no framework.
 */

export type AttributeValue = string | number | boolean;

export interface LeadRecord {
  id: string;
  email?: string | null;
  firstName?: string | null;
  lastName?: string | null;
  title?: string | null;
  seniority?: string | null;
  company?: string | null;
  domain?: string | null;
  industry?: string | null;
  employeeCount?: number | null;
  phone?: string | null;
  address?: string | null;
  city?: string | null;
  postcode?: string | null;
  country?: string | null;
  linkedinUrl?: string | null;
  source?: string | null;
  attributes?: Record<string, unknown> | null;
  createdAt?: Date | string | null;
  updatedAt?: Date | string | null;
}

/** The lead fields a CSV column or a merge can fill, with their table column and type. */
export const LEAD_FIELDS = [
  { field: "email", column: "email", type: "text" },
  { field: "firstName", column: "first_name", type: "text" },
  { field: "lastName", column: "last_name", type: "text" },
  { field: "title", column: "title", type: "text" },
  { field: "seniority", column: "seniority", type: "text" },
  { field: "company", column: "company", type: "text" },
  { field: "domain", column: "domain", type: "text" },
  { field: "industry", column: "industry", type: "text" },
  { field: "employeeCount", column: "employee_count", type: "integer" },
  { field: "phone", column: "phone", type: "text" },
  { field: "address", column: "address", type: "text" },
  { field: "city", column: "city", type: "text" },
  { field: "postcode", column: "postcode", type: "text" },
  { field: "country", column: "country", type: "text" },
  { field: "linkedinUrl", column: "linkedin_url", type: "text" },
  { field: "source", column: "source", type: "text" },
] as const;

export type LeadField = (typeof LEAD_FIELDS)[number]["field"];
export const LEAD_FIELD_NAMES: readonly LeadField[] = LEAD_FIELDS.map((f) => f.field);

export function isLeadField(name: string): name is LeadField {
  return (LEAD_FIELD_NAMES as readonly string[]).includes(name);
}

export function isEmpty(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === "string" && v.trim() === "");
}

/** Number of filled fields and attributes: how complete a lead is. */
export function completeness(lead: LeadRecord): number {
  let n = 0;
  for (const f of LEAD_FIELD_NAMES) if (!isEmpty(lead[f])) n++;
  for (const v of Object.values(lead.attributes ?? {})) if (!isEmpty(v)) n++;
  return n;
}

export function timeOf(v: Date | string | null | undefined): number {
  if (v === undefined || v === null) return 0;
  const t = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isFinite(t) ? t : 0;
}
