/**
 * The dedupe matcher on organisation and person records: company and address keys, phones without
 * a country (default country, national digits), the field notes, per-link evidence, and blocking
 * that scores each pair once.
 */
import { createHash } from "node:crypto";
import { findDuplicates, LeadMatcher } from "../src/agents/data-engineer/domain/matcher";
import type { LeadRecord } from "../src/agents/data-engineer/domain/lead";
import { organisationSimilarity, phoneSimilarity } from "../src/agents/data-engineer/domain/similarity";
import { addressParts, normalizeAddress, normalizeCompany, phoneKey } from "../src/agents/data-engineer/domain/normalize";

const members = (c: { survivorId: string; duplicateIds: string[] }) => [c.survivorId, ...c.duplicateIds].sort();

describe("organisation records", () => {
  // Restaurants and childcare sites as two sources list them: the name spelt differently, the
  // address abbreviated differently, phones in local formats without a country.
  const sites: LeadRecord[] = [
    { id: "r1", company: "Arnie Morton's of Chicago", address: "435 S. La Cienega Blv.", city: "Los Angeles", phone: "310/246-1501" },
    { id: "r2", company: "arnie morton's of chicago", address: "435 s. la cienega blvd.", city: "los angeles", phone: "310-246-1501" },
    { id: "r3", company: "Art's Delicatessen", address: "12224 Ventura Blvd.", city: "Studio City", phone: "818/762-1221" },
    { id: "r4", company: "Art's Deli", address: "12224 Ventura Blvd.", city: "Studio City", phone: "818-762-1221" },
    { id: "r5", company: "Hotel Bel-Air", address: "701 Stone Canyon Rd.", city: "Bel Air", phone: "310/472-1211" },
    { id: "r6", company: "Bel-Air Hotel", address: "701 Stone Canyon Road", city: "Bel Air", phone: "310-472-1211" },
    { id: "r7", company: "Campanile", address: "624 S. La Brea Ave.", city: "Los Angeles", phone: "213/938-1447" },
    { id: "r8", company: "Chinois on Main", address: "2709 Main St.", city: "Santa Monica", phone: "310/392-9025" },
    { id: "s1", company: "Chicago Commons Association - Nia Family Center", address: "744 N Monticello Ave", phone: "8266971" },
    { id: "s2", company: "CHICAGO COMMONS NIA FAMILY CENTER", address: "744 N. MONTICELLO", phone: "826-6971" },
    { id: "s3", company: "Chicago Commons Association - Paulo Freire", address: "1653 W 43rd St", phone: "8473310" },
  ];

  test("duplicates are found by name, address and phone; different sites of one agency stay apart", () => {
    const { clusters } = findDuplicates(sites);
    expect(clusters.map(members).sort()).toEqual([["r1", "r2"], ["r3", "r4"], ["r5", "r6"], ["s1", "s2"]]);
  });

  test("restaurants of one hotel (one address, one switchboard) are different organisations; a shared email domain still joins two names", () => {
    const leads: LeadRecord[] = [
      { id: "h1", company: "Palace Court", address: "3570 Las Vegas Blvd. S", city: "Las Vegas", phone: "702/731-7547" },
      { id: "h2", company: "Cafe Roma", address: "3570 Las Vegas Blvd. S", city: "Las Vegas", phone: "702/731-7547" },
      { id: "h3", company: "palace court", address: "3570 las vegas blvd. s.", city: "las vegas", phone: "702-731-7110" },
      { id: "d1", company: "Initech", domain: "initech.example", address: "1 Main St", phone: "555-0100-22" },
      { id: "d2", company: "IT Corp", domain: "https://www.initech.example/", address: "1 Main St", phone: "555-0100-22" },
    ];
    const { clusters } = findDuplicates(leads);
    expect(clusters.map(members).sort()).toEqual([["d1", "d2"], ["h1", "h3"]]);
  });

  test("legal forms written letter by letter are dropped; an exact name between two organisation records is not discounted for being frequent", () => {
    expect(normalizeCompany("AKZO NOBEL N. V.")).toBe("akzo nobel");
    expect(normalizeCompany("Shell B V.")).toBe("shell");
    const firm = (k: number) => `Firm ${createHash("sha256").update(String(k)).digest("hex").slice(0, 8)}`;
    const leads: LeadRecord[] = [
      ...Array.from({ length: 40 }, (_, k) => ({ id: `a${k}`, company: k % 2 ? "AKZO NOBEL N.V." : "Akzo Nobel NV" })),
      { id: "u1", company: "Unique Org BV" },
      { id: "u2", company: "Unique Org B.V." },
      ...Array.from({ length: 40 }, (_, k) => ({ id: `p${k}`, firstName: firm(k + 500).slice(5), lastName: firm(k + 900).slice(5), company: "Akzo Nobel" })),
      ...Array.from({ length: 200 }, (_, k) => ({ id: `o${k}`, company: firm(k) })),
    ];
    const m = new LeadMatcher(leads).finish();
    const companyWeight = (i: number, j: number) => m.explain(i, j).find((e) => e.field === "company")!.weight;
    // Two Akzo Nobel records weigh as much as the one pair of a unique name...
    expect(companyWeight(0, 1)).toBe(companyWeight(40, 41));
    // ...while two people at Akzo Nobel share a frequent employer, which says less.
    expect(companyWeight(42, 43)).toBeLessThan(companyWeight(0, 1) - 4);
  });

  test("a duplicate whose only agreeing key is the company name is still a candidate", () => {
    const leads: LeadRecord[] = [
      { id: "a", company: "Zyxel Communications Corp.", city: "Hsinchu" },
      { id: "b", company: "ZyXEL Communications", city: "Hsinchu" },
      ...Array.from({ length: 30 }, (_, k) => ({ id: `o${k}`, company: `Other Company ${k} Ltd`, city: "Hsinchu" })),
    ];
    const { clusters, candidatePairs } = findDuplicates(leads);
    expect(clusters.map(members)).toEqual([["a", "b"]]);
    expect(candidatePairs).toBeGreaterThan(0);
  });

  test("organisation names: word overlap, abbreviations and containment", () => {
    expect(organisationSimilarity("arts delicatessen", "arts deli")).toBeGreaterThanOrEqual(0.9);
    expect(organisationSimilarity("chicago commons association st catherine st lucy school", "st catherine st lucy")).toBeGreaterThanOrEqual(0.9);
    expect(organisationSimilarity("hotel bel air", "bel air hotel")).toBe(1);
    expect(organisationSimilarity("campanile", "chinois on main")).toBeLessThan(0.6);
  });

  test("addresses: house number and street word", () => {
    expect(addressParts(normalizeAddress("221 E. 51st St."))).toEqual({ number: "221", street: "51st" });
    expect(addressParts(normalizeAddress("PO Box"))).toBeUndefined();
  });
});

describe("phones without a country", () => {
  test("an unparseable US phone on a lead without a country is compared by its national digits, and the notes say so", () => {
    const leads: LeadRecord[] = [
      { id: "a", company: "Campanile", phone: "213/938-1447", city: "Los Angeles" },
      { id: "b", company: "Campanile Restaurant", phone: "+1 213 938 1447", city: "Los Angeles", country: "US" },
      { id: "c", company: "Patina", phone: "12", city: "Los Angeles" },
    ];
    expect(phoneKey("213/938-1447")).toEqual({ kind: "digits", value: "2139381447" });
    expect(phoneSimilarity("2139381447", "+12139381447")).toBe(1);
    // Two parsed numbers of different countries sharing a tail are not one number.
    expect(phoneSimilarity("+12139381447", "+442139381447")).toBeLessThan(1);
    const result = findDuplicates(leads);
    expect(result.clusters.map(members)).toEqual([["a", "b"]]);
    const phone = result.clusters[0].links[0].evidence.find((e) => e.field === "phone")!;
    expect(phone).toMatchObject({ a: "2139381447", b: "+12139381447", similarity: 1 });
    expect(phone.weight).toBeGreaterThan(5);
    expect(result.fieldNotes).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: "phone", handling: "comparedByDigits", count: 1 }),
        expect.objectContaining({ field: "phone", handling: "ignored", count: 1, reason: "fewer than 7 digits" }),
      ]),
    );
  });

  test("defaultCountry parses them as that country's numbers (and nothing is noted)", () => {
    expect(phoneKey("213/938-1447", undefined, "US")).toEqual({ kind: "e164", value: "+12139381447" });
    expect(phoneKey("213/938-1447", "Narnia", "US")).toEqual({ kind: "e164", value: "+12139381447" });
    const leads: LeadRecord[] = [
      { id: "a", company: "Campanile", phone: "213/938-1447" },
      { id: "b", company: "Campanile", phone: "(213) 938-1447" },
    ];
    const result = findDuplicates(leads, { defaultCountry: "US" });
    expect(result.clusters.map(members)).toEqual([["a", "b"]]);
    expect(result.fieldNotes).toEqual([]);
    expect(result.clusters[0].links[0].evidence.find((e) => e.field === "phone")).toMatchObject({ a: "+12139381447", b: "+12139381447" });
  });
});

describe("evidence and blocking", () => {
  test("each link names the fields compared, both values and each weight; they add up to the score", () => {
    const leads: LeadRecord[] = [
      { id: "a", firstName: "Katherine", lastName: "Johnson", email: "kjohnson@nasa.gov", city: "Hampton", country: "US" },
      { id: "b", firstName: "Kathy", lastName: "Jonhson", email: "k.johnson@nasa.gov", city: "Hampton", country: "US" },
    ];
    const { clusters } = findDuplicates(leads);
    expect(clusters).toHaveLength(1);
    const [link] = clusters[0].links;
    expect(link).toMatchObject({ a: "a", b: "b" });
    const fields = link.evidence.map((e) => e.field).sort();
    expect(fields).toEqual(["city", "country", "domain", "email", "firstName", "lastName"]);
    expect(link.evidence.find((e) => e.field === "firstName")).toMatchObject({ a: "katherine", b: "katherine", similarity: 1 });
    expect(link.evidence.find((e) => e.field === "lastName")).toMatchObject({ a: "johnson", b: "jonhson" });
    const total = link.evidence.reduce((w, e) => w + e.weight, 0);
    const prior = Math.log2(1000);
    expect(1 / (1 + 2 ** (prior - total))).toBeCloseTo(link.score, 2);
  });

  test("a pair sharing many blocking keys is scored once; a row-id attribute is not compared", () => {
    // Unrelated names: letters from a hash of k.
    const word = (k: number, salt: number) => [...createHash("sha256").update(`${k}:${salt}`).digest().subarray(0, 7)].map((b) => String.fromCharCode(97 + (b % 26))).join("");
    const leads: LeadRecord[] = Array.from({ length: 120 }, (_, k) => ({
      id: `l${k}`,
      firstName: k < 2 ? "Ada" : word(k, 1),
      lastName: k < 2 ? "Lovelace" : word(k, 2),
      email: k < 2 ? "ada@example.org" : `${word(k, 3)}@example.org`,
      postcode: "2000",
      attributes: { rowId: `row-${k}` },
    }));
    const matcher = new LeadMatcher(leads).finish();
    const seen = new Set<string>();
    matcher.forEachCandidatePair(500, (i, j) => {
      const key = `${i},${j}`;
      expect(seen.has(key)).toBe(false);
      seen.add(key);
    });
    expect(seen.has("0,1")).toBe(true);
    const result = findDuplicates(leads);
    expect(result.clusters.map(members)).toEqual([["l0", "l1"]]);
    expect(result.clusters[0].links[0].evidence.some((e) => e.field === "attributes.rowId")).toBe(false);
    expect(result.fieldNotes).toEqual([expect.objectContaining({ field: "attributes.rowId", handling: "ignored", count: 120 })]);
  });
});
