/**
 * A generated lead list the size of a large tenant, written as CSV: people (about 80 %) and
 * organisations (20 %), with the header a CRM export would have, and about 8 % near-duplicates
 * (a typo, a nickname, another phone format, a missing field). Deterministic for a seed; nothing
 * in it comes from the public lists the matcher is measured on.
 */
import { createWriteStream } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

// The service's own seeded generator (compiled: the benches run after `npm run build`).
const { mulberry32 } = createRequire(import.meta.url)(path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../agent-services/dist/agents/audience-architect/domain/rng.js"));


const FIRST = ["james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "william", "elizabeth", "david", "barbara", "richard", "susan", "joseph", "jessica", "thomas", "sarah", "charles", "karen", "christopher", "nancy", "daniel", "lisa", "matthew", "betty", "anthony", "margaret", "mark", "sandra", "donald", "ashley", "steven", "kimberly", "paul", "emily", "andrew", "donna", "joshua", "michelle", "kenneth", "carol", "kevin", "amanda", "brian", "melissa", "george", "deborah", "timothy", "stephanie", "sofia", "lucas", "mateo", "emma", "noah", "olivia", "liam", "mia", "ahmed", "fatima", "wei", "yuki", "priya", "arjun", "chen", "ines", "lars", "anna", "jan", "eva"];
const LAST_A = ["smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez", "hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas", "taylor", "moore", "jackson", "martin", "lee", "perez", "thompson", "white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson", "walker", "young", "allen", "king", "wright", "scott", "torres", "nguyen", "hill", "flores", "green", "adams", "nelson", "baker", "hall", "rivera", "campbell", "mitchell", "carter", "roberts", "mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker", "dubois", "moreau", "laurent", "rossi", "russo", "ferrari", "esposito", "bianchi", "kowalski", "nowak", "jansen", "devries", "bakker", "visser", "tanaka", "suzuki", "sato", "wang", "li", "zhang", "liu", "chen", "kumar", "singh", "sharma", "patel"];
const SYL = ["ar", "ben", "cor", "dal", "el", "fin", "gar", "hol", "ist", "jor", "kel", "lin", "mor", "nor", "ost", "per", "quin", "ros", "sten", "tor", "ul", "vel", "wes", "yor", "zan"];
const CO_WORDS = ["global", "systems", "labs", "analytics", "solutions", "partners", "logistics", "health", "energy", "foods", "capital", "robotics", "media", "software", "networks", "materials", "bio", "marine", "studio", "works"];
const SUFFIX = ["Inc", "LLC", "Ltd", "GmbH", "B.V.", "S.A.", "Corp.", "", "", ""];
const CITIES = [["New York", "US", "100"], ["San Francisco", "US", "941"], ["Chicago", "US", "606"], ["Austin", "US", "787"], ["London", "GB", "EC1"], ["Manchester", "GB", "M1 "], ["Berlin", "DE", "101"], ["Munich", "DE", "803"], ["Paris", "FR", "750"], ["Lyon", "FR", "690"], ["Amsterdam", "NL", "101"], ["Madrid", "ES", "280"], ["Milan", "IT", "201"], ["Sydney", "AU", "200"], ["Toronto", "CA", "M5V"], ["Singapore", "SG", "018"]];
const TITLES = ["CEO", "CTO", "VP Sales", "Head of Marketing", "Engineer", "Account Executive", "Data Analyst", "Procurement Manager", "Founder", "Operations Lead"];
const INDUSTRIES = ["software", "retail", "finance", "healthcare", "manufacturing", "logistics", "media", "energy", "education", "hospitality"];
const STREETS = ["Main St", "High Street", "Market St", "Park Ave", "Oak Road", "Station Road", "King St", "Church Lane", "Mill Road", "River Drive"];
const CALLING = { US: "1", CA: "1", GB: "44", DE: "49", FR: "33", NL: "31", ES: "34", IT: "39", AU: "61", SG: "65" };

const cap = (s) => s.charAt(0).toUpperCase() + s.slice(1);
const csv = (v) => (v === undefined || v === null ? "" : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
export const HEADER = ["email", "first_name", "last_name", "title", "company", "website", "industry", "employees", "phone", "address", "city", "zip", "country", "lead_score", "plan"];

/** Writes n leads to `file`; resolves to {rows, duplicates} once flushed. */
export function writeLeadsCsv(file, n, seed = 1) {
  const r = mulberry32(seed);
  const pick = (xs) => xs[Math.floor(r() * xs.length)];
  const digits = (k) => Array.from({ length: k }, () => Math.floor(r() * 10)).join("");
  const companies = Array.from({ length: Math.max(50, Math.floor(n / 25)) }, (_, k) => {
    const name = cap(pick(SYL) + pick(SYL) + (k % 7 === 0 ? pick(SYL) : "")) + (r() < 0.6 ? ` ${cap(pick(CO_WORDS))}` : "");
    const [city, country, zip] = pick(CITIES);
    return { name, suffix: pick(SUFFIX), domain: `${name.toLowerCase().replace(/[^a-z]/g, "")}${k}.com`, city, country, zip: zip + digits(2), industry: pick(INDUSTRIES), employees: Math.floor(5 + r() * 5000), street: `${1 + Math.floor(r() * 400)} ${pick(STREETS)}` };
  });
  const phoneOf = (country) => `+${CALLING[country] ?? "1"} ${digits(3)} ${digits(3)} ${digits(4)}`;
  const out = createWriteStream(file);
  const lines = [HEADER.join(",")];
  const recent = [];
  let duplicates = 0;
  for (let i = 0; i < n; i++) {
    let row;
    if (recent.length > 100 && r() < 0.08) {
      // A near-duplicate of an earlier lead: one of the ways CRM exports repeat someone.
      row = [...recent[Math.floor(r() * recent.length)]];
      const how = Math.floor(r() * 4);
      if (how === 0 && row[0]) row[0] = row[0].toUpperCase();
      if (how === 1 && row[1]) row[1] = row[1].length > 3 ? row[1].slice(0, -1) : row[1] + "e";
      if (how === 2 && row[8]) row[8] = row[8].replace(/^\+\d+ /, "(0").replace(/ /, ") ");
      if (how === 3) row[9] = "";
      duplicates++;
    } else {
      const c = pick(companies);
      if (r() < 0.8) {
        const first = pick(FIRST);
        const last = r() < 0.7 ? pick(LAST_A) : pick(SYL) + pick(SYL) + pick(SYL);
        row = [`${first}.${last}${r() < 0.3 ? digits(2) : ""}@${r() < 0.25 ? "gmail.com" : c.domain}`, cap(first), cap(last), pick(TITLES), `${c.name} ${c.suffix}`.trim(), c.domain, c.industry, c.employees, r() < 0.7 ? phoneOf(c.country) : "", "", c.city, c.zip, c.country, Math.floor(r() * 100), pick(["free", "pro", "team", "enterprise"])];
      } else {
        row = [r() < 0.5 ? `info@${c.domain}` : "", "", "", "", `${c.name} ${c.suffix}`.trim(), c.domain, c.industry, c.employees, phoneOf(c.country), `${1 + Math.floor(r() * 400)} ${pick(STREETS)}`, c.city, c.zip, c.country, Math.floor(r() * 100), pick(["free", "pro", "team", "enterprise"])];
      }
      recent.push(row);
      if (recent.length > 5000) recent.splice(0, 1000);
    }
    lines.push(row.map(csv).join(","));
    if (lines.length >= 10_000) {
      out.write(lines.join("\n") + "\n");
      lines.length = 0;
    }
  }
  out.write(lines.length ? lines.join("\n") + "\n" : "");
  return new Promise((resolve, reject) => out.end((e) => (e ? reject(e) : resolve({ rows: n, duplicates }))));
}
