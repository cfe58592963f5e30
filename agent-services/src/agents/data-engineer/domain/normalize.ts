/**
 * Normalisation of lead data for matching and validation: emails (case, plus-addressing, dots where
 * the provider ignores them), phones to E.164 (libphonenumber-js, the lead's country as default
 * region), person names (case, accents, punctuation, titles, common nicknames), company names and
 * domains, dates of birth, and the Soundex code used for blocking. Pure functions.
 */
import { parsePhoneNumberFromString, isSupportedCountry, type CountryCode } from "libphonenumber-js/max";

/** Providers that ignore dots in the local part (Gmail; googlemail.com is the same mailbox). */
const DOTLESS_PROVIDERS = new Set(["gmail.com"]);
const DOMAIN_ALIASES: Record<string, string> = { "googlemail.com": "gmail.com" };

/** Free mail providers: their domain says nothing about the lead's company. */
export const FREE_MAIL_DOMAINS = new Set([
  "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "hotmail.com", "hotmail.co.uk",
  "hotmail.fr", "outlook.com", "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "protonmail.com",
  "proton.me", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com", "qq.com",
  "163.com", "126.com", "zoho.com", "fastmail.com", "hey.com", "bigpond.com", "optusnet.com.au", "orange.fr", "free.fr",
  "laposte.net", "libero.it", "t-online.de", "comcast.net", "verizon.net", "att.net", "btinternet.com", "sky.com",
]);

const EMAIL_SYNTAX = /^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

/** Is this a syntactically valid address (RFC 5321 dot-atom local part, a dotted domain with a TLD)? */
export function isValidEmail(raw: string): boolean {
  const s = raw.trim();
  if (s.length > 254) return false;
  const at = s.lastIndexOf("@");
  if (at < 1 || at > 64) return false;
  return EMAIL_SYNTAX.test(s);
}

/**
 * The mailbox an address delivers to: lower-cased, the domain's alias resolved, the +tag removed,
 * and dots in the local part removed where the provider ignores them. Undefined when not an address.
 */
export function normalizeEmail(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const s = raw.trim().toLowerCase().replace(/^mailto:/, "");
  const at = s.lastIndexOf("@");
  if (at < 1 || at === s.length - 1) return undefined;
  let local = s.slice(0, at);
  let domain = s.slice(at + 1).replace(/\.$/, "");
  domain = DOMAIN_ALIASES[domain] ?? domain;
  const plus = local.indexOf("+");
  if (plus > 0) local = local.slice(0, plus);
  if (DOTLESS_PROVIDERS.has(domain)) local = local.replace(/\./g, "");
  if (!local || !domain.includes(".")) return undefined;
  return `${local}@${domain}`;
}

export function emailDomain(raw: string | null | undefined): string | undefined {
  const n = normalizeEmail(raw);
  return n ? n.slice(n.indexOf("@") + 1) : undefined;
}

/** Country names and codes as leads carry them, to ISO 3166-1 alpha-2 (for phone parsing). */
const COUNTRY_NAMES: Record<string, string> = {
  "united states": "US", "united states of america": "US", usa: "US", "u.s.a.": "US", "u.s.": "US", america: "US",
  "united kingdom": "GB", uk: "GB", "great britain": "GB", england: "GB", scotland: "GB", wales: "GB", "northern ireland": "GB",
  australia: "AU", aus: "AU", canada: "CA", can: "CA", germany: "DE", deutschland: "DE", deu: "DE", france: "FR", fra: "FR",
  spain: "ES", españa: "ES", espana: "ES", esp: "ES", italy: "IT", italia: "IT", ita: "IT", netherlands: "NL", "the netherlands": "NL",
  holland: "NL", nld: "NL", belgium: "BE", switzerland: "CH", austria: "AT", ireland: "IE", portugal: "PT", prt: "PT", sweden: "SE",
  norway: "NO", denmark: "DK", finland: "FI", poland: "PL", "new zealand": "NZ", nzl: "NZ", india: "IN", ind: "IN", japan: "JP",
  jpn: "JP", china: "CN", chn: "CN", brazil: "BR", brasil: "BR", bra: "BR", mexico: "MX", méxico: "MX", mex: "MX",
  singapore: "SG", "south africa": "ZA", israel: "IL", "united arab emirates": "AE", uae: "AE", gbr: "GB", aut: "AT",
};

export function countryCode(raw: string | null | undefined): CountryCode | undefined {
  if (!raw) return undefined;
  const s = raw.trim();
  if (/^[a-z]{2}$/i.test(s)) {
    const up = s.toUpperCase() === "UK" ? "GB" : s.toUpperCase();
    return isSupportedCountry(up) ? (up as CountryCode) : undefined;
  }
  const named = COUNTRY_NAMES[s.toLowerCase()];
  return named && isSupportedCountry(named) ? (named as CountryCode) : undefined;
}

export interface PhoneCheck {
  e164?: string;
  valid: boolean;
  region?: string;
}

/**
 * Parse a phone number with the lead's country as the default region, or `defaultCountry` (the
 * tenant's or the task's) when the lead has none or an unrecognised one.
 */
export function checkPhone(raw: string | null | undefined, country?: string | null, defaultCountry?: string | null): PhoneCheck {
  if (!raw || !raw.trim()) return { valid: false };
  const region = countryCode(country) ?? countryCode(defaultCountry);
  const key = `${region ?? ""} ${raw.trim()}`;
  let check = recentChecks.get(key);
  if (!check) {
    const p = parsePhoneNumberFromString(raw.trim(), region ? { defaultCountry: region } : undefined);
    check = Object.freeze(p ? { e164: p.number, valid: p.isValid(), region: p.country ?? region } : { valid: false, region });
    if (recentChecks.size >= RECENT_CHECKS) recentChecks.clear();
    recentChecks.set(key, check);
  }
  return check;
}

/**
 * The last checks made (libphonenumber's full validation is about 18 µs a number): validateLeads
 * checks each page of leads right after the matcher has read the same phones.
 */
const RECENT_CHECKS = 20_000;
const recentChecks = new Map<string, Readonly<PhoneCheck>>();

/** Phones with fewer digits than this carry too little to compare. */
export const MIN_PHONE_DIGITS = 7;

export type PhoneKey = { kind: "e164"; value: string } | { kind: "digits"; value: string } | { kind: "none" };

/**
 * A phone number for matching: its E.164 form when it parses as a valid number (lead country, else
 * the default country), else its digits when there are at least MIN_PHONE_DIGITS of them (compared
 * by their national tail, so `310/246-1501` still meets `+1 310 246 1501`), else nothing.
 */
export function phoneKey(raw: string | null | undefined, country?: string | null, defaultCountry?: string | null): PhoneKey {
  if (!raw || !raw.trim()) return { kind: "none" };
  const p = checkPhone(raw, country, defaultCountry);
  if (p.valid && p.e164) return { kind: "e164", value: p.e164 };
  const digits = raw.replace(/\D/g, "");
  return digits.length >= MIN_PHONE_DIGITS ? { kind: "digits", value: digits } : { kind: "none" };
}

/** Lower case, accents and punctuation removed, whitespace collapsed. */
export function foldText(raw: string | null | undefined): string {
  if (!raw) return "";
  return raw
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/ß/g, "ss")
    .replace(/['’`´]/g, "")
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

const NAME_AFFIXES = new Set(["mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"]);

/** Common English nicknames to the given name they stand for. */
const NICKNAMES: Record<string, string> = {
  bob: "robert", bobby: "robert", rob: "robert", robbie: "robert", bill: "william", billy: "william", will: "william",
  willy: "william", liz: "elizabeth", lizzie: "elizabeth", beth: "elizabeth", betty: "elizabeth", eliza: "elizabeth",
  jim: "james", jimmy: "james", jamie: "james", mike: "michael", mick: "michael", mikey: "michael", dave: "david",
  davy: "david", dick: "richard", rick: "richard", ricky: "richard", rich: "richard", tom: "thomas", tommy: "thomas",
  tony: "anthony", kate: "katherine", katie: "katherine", kathy: "katherine", cathy: "catherine", chris: "christopher",
  matt: "matthew", dan: "daniel", danny: "daniel", joe: "joseph", joey: "joseph", sam: "samuel", steve: "stephen",
  ben: "benjamin", alex: "alexander", andy: "andrew", drew: "andrew", nick: "nicholas", pat: "patrick", peggy: "margaret",
  maggie: "margaret", meg: "margaret", jen: "jennifer", jenny: "jennifer", sue: "susan", suzy: "susan", ted: "edward",
  ed: "edward", eddie: "edward", jack: "john", johnny: "john", jon: "john", greg: "gregory", jeff: "jeffrey",
  larry: "lawrence", fred: "frederick", charlie: "charles", chuck: "charles", hank: "henry", harry: "henry", abby: "abigail",
  becky: "rebecca", vicky: "victoria", tim: "timothy", ron: "ronald", don: "donald", ken: "kenneth", len: "leonard",
  phil: "philip", pete: "peter", ray: "raymond", walt: "walter", nate: "nathan", zach: "zachary",
};

/** A person's name for comparison: folded, titles and suffixes removed. */
export function normalizeName(raw: string | null | undefined): string {
  const tokens = foldText(raw).split(" ").filter((t) => t && !NAME_AFFIXES.has(t));
  return tokens.join(" ");
}

/** A given name for comparison: normalised, a known nickname replaced by the full name. */
export function normalizeFirstName(raw: string | null | undefined): string {
  const n = normalizeName(raw);
  if (!n) return "";
  const [first, ...rest] = n.split(" ");
  return [NICKNAMES[first] ?? first, ...rest].join(" ");
}

const COMPANY_SUFFIXES = new Set([
  "inc", "incorporated", "llc", "llp", "ltd", "limited", "plc", "corp", "corporation", "co", "company", "gmbh", "ag", "sa",
  "sas", "sarl", "srl", "spa", "bv", "nv", "oy", "ab", "as", "pty", "pte", "kk", "the", "group", "holdings", "cv", "vof",
  "gmbh", "kg", "ohg", "ev", "se", "lp", "pc", "pllc", "ltda", "sl", "sau", "oyj", "asa", "aps", "bvba", "sprl",
]);

export function normalizeCompany(raw: string | null | undefined): string {
  // Legal forms written letter by letter ("N. V.", "B V", "S.A.") fold to "n v": join such runs.
  const tokens = foldText(raw)
    .replace(/\b([a-z]) (?=[a-z]\b)/g, "$1")
    .split(" ")
    .filter(Boolean);
  const kept = tokens.filter((t) => !COMPANY_SUFFIXES.has(t));
  // A name made only of suffix words ("The Company") keeps them rather than becoming empty.
  return (kept.length ? kept : tokens).join(" ");
}

/** Words too common in organisation names to identify one (for blocking keys). */
const ORG_STOPWORDS = new Set(["and", "of", "for", "at", "in", "on", "de", "la", "le", "des", "du", "der", "die", "und", "y", "el", "los", "st", "saint"]);

/** The distinctive words of a normalised organisation name (3+ characters, not stopwords). */
export function organisationTokens(normalized: string): string[] {
  return [...new Set(normalized.split(" ").filter((t) => t.length >= 3 && !ORG_STOPWORDS.has(t)))];
}

const TWO_LEVEL_SUFFIXES = /\.(?:co|com|net|org|gov|ac|edu|ltd|plc|ne|or)\.[a-z]{2}$/;

/** The registered domain of a website, URL or bare domain: scheme, www., port and path removed. */
export function normalizeDomain(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  let s = raw.trim().toLowerCase();
  if (!s) return undefined;
  s = s.replace(/^[a-z][a-z0-9+.-]*:\/\//, "");
  s = s.replace(/^[^@/]*@/, "");
  s = s.split(/[/?#]/)[0].replace(/:\d+$/, "").replace(/\.$/, "");
  s = s.replace(/^www\d?\./, "");
  if (!/^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(s)) return undefined;
  const labels = s.split(".");
  const keep = TWO_LEVEL_SUFFIXES.test(s) ? 3 : 2;
  return labels.slice(-keep).join(".");
}

/** The company domain of a lead: its domain field, else the domain of a non-free-mail address. */
export function companyDomain(domain: string | null | undefined, email: string | null | undefined): string | undefined {
  const d = normalizeDomain(domain);
  if (d) return d;
  const e = emailDomain(email);
  if (!e || FREE_MAIL_DOMAINS.has(e)) return undefined;
  return normalizeDomain(e);
}

/** A LinkedIn profile URL reduced to its path (linkedin.com/in/<slug>). */
export function normalizeLinkedin(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  const m = /linkedin\.com\/(in|pub|company)\/([^/?#\s]+)/i.exec(raw.trim());
  return m ? `${m[1].toLowerCase()}/${decodeURIComponent(m[2]).toLowerCase()}` : undefined;
}

const ADDRESS_ABBREVIATIONS: Record<string, string> = {
  st: "street", str: "street", rd: "road", ave: "avenue", av: "avenue", blvd: "boulevard", dr: "drive", ln: "lane",
  pl: "place", ct: "court", cres: "crescent", cr: "crescent", hwy: "highway", pde: "parade", tce: "terrace", sq: "square",
  apt: "apartment", ste: "suite", fl: "floor", n: "north", s: "south", e: "east", w: "west", blv: "boulevard",
  bl: "boulevard", pkwy: "parkway", pky: "parkway", cir: "circle", ter: "terrace", hts: "heights", mt: "mount",
  ctr: "center", centre: "center", expy: "expressway", fwy: "freeway", plz: "plaza", rte: "route", sts: "streets",
  ne: "northeast", nw: "northwest", se: "southeast", sw: "southwest",
};
const DIRECTIONS = new Set(["north", "south", "east", "west", "northeast", "northwest", "southeast", "southwest"]);

export function normalizeAddress(raw: string | null | undefined): string {
  return foldText(raw).split(" ").filter(Boolean).map((t) => ADDRESS_ABBREVIATIONS[t] ?? t).join(" ");
}

/**
 * House number and street name word of a normalised address ("221 east 51st street" -> 221 and
 * 51st): the first number, and the first word after it that is not a direction. Undefined when the
 * address has no number followed by a word.
 */
export function addressParts(normalized: string): { number: string; street: string } | undefined {
  const tokens = normalized.split(" ");
  const at = tokens.findIndex((t) => /^\d+[a-z]?$/.test(t));
  if (at < 0) return undefined;
  const street = tokens.slice(at + 1).find((t) => !DIRECTIONS.has(t));
  return street ? { number: tokens[at], street } : undefined;
}

export function normalizePostcode(raw: string | null | undefined): string {
  return (raw ?? "").toString().toLowerCase().replace(/[^a-z0-9]/g, "");
}

/**
 * A date of birth as YYYYMMDD: from YYYYMMDD, YYYY-MM-DD / YYYY/MM/DD, DD/MM/YYYY or DD.MM.YYYY
 * (day first unless the first part cannot be a day), or an ISO timestamp. Undefined otherwise.
 */
export function normalizeDate(raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === "") return undefined;
  const s = String(raw).trim();
  let m = /^(\d{4})(\d{2})(\d{2})$/.exec(s) ?? /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ].*)?$/.exec(s);
  if (m) return ymd(m[1], m[2], m[3]);
  m = /^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$/.exec(s);
  if (m) return Number(m[1]) > 12 || Number(m[2]) <= 12 ? ymd(m[3], m[2], m[1]) : ymd(m[3], m[1], m[2]);
  return undefined;
}

function ymd(y: string, mo: string, d: string): string | undefined {
  const month = Number(mo);
  const day = Number(d);
  if (month < 1 || month > 12 || day < 1 || day > 31) return y.padStart(4, "0") + mo.padStart(2, "0") + d.padStart(2, "0");
  return y + String(month).padStart(2, "0") + String(day).padStart(2, "0");
}

/** American Soundex (letter + three digits); empty for a string without letters. */
export function soundex(raw: string): string {
  const s = raw.toLowerCase().replace(/[^a-z]/g, "");
  if (!s) return "";
  const code = (c: string): string => {
    if ("bfpv".includes(c)) return "1";
    if ("cgjkqsxz".includes(c)) return "2";
    if ("dt".includes(c)) return "3";
    if (c === "l") return "4";
    if ("mn".includes(c)) return "5";
    if (c === "r") return "6";
    return c === "h" || c === "w" ? "h" : "0";
  };
  let out = s[0].toUpperCase();
  let prev = code(s[0]);
  for (let i = 1; i < s.length && out.length < 4; i++) {
    const c = code(s[i]);
    if (c === "h") continue;
    if (c !== "0" && c !== prev) out += c;
    prev = c;
  }
  return out.padEnd(4, "0");
}
