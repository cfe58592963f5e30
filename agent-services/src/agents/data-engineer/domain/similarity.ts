/**
 * String similarities in [0, 1]: Jaro-Winkler for names, edit distance for codes and addresses,
 * token overlap for organisation names, national tails for phone numbers.
 */
import { distance as levenshtein } from "fastest-levenshtein";
import { addressParts, MIN_PHONE_DIGITS } from "./normalize";

// Match flags reused across calls (the matcher calls this in a tight loop).
let flagsA = new Uint8Array(64);
let flagsB = new Uint8Array(64);

export function jaro(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const la = a.length;
  const lb = b.length;
  if (!la || !lb) return 0;
  const window = Math.max(0, Math.floor(Math.max(la, lb) / 2) - 1);
  if (la > flagsA.length || lb > flagsB.length) {
    flagsA = new Uint8Array(Math.max(la, flagsA.length * 2));
    flagsB = new Uint8Array(Math.max(lb, flagsB.length * 2));
  }
  const ma = flagsA;
  const mb = flagsB;
  ma.fill(0, 0, la);
  mb.fill(0, 0, lb);
  let matches = 0;
  for (let i = 0; i < la; i++) {
    const lo = Math.max(0, i - window);
    const hi = Math.min(lb - 1, i + window);
    for (let j = lo; j <= hi; j++) {
      if (!mb[j] && a.charCodeAt(i) === b.charCodeAt(j)) {
        ma[i] = 1;
        mb[j] = 1;
        matches++;
        break;
      }
    }
  }
  if (!matches) return 0;
  let t = 0;
  let k = 0;
  for (let i = 0; i < la; i++) {
    if (!ma[i]) continue;
    while (!mb[k]) k++;
    if (a.charCodeAt(i) !== b.charCodeAt(k)) t++;
    k++;
  }
  return (matches / la + matches / lb + (matches - t / 2) / matches) / 3;
}

/** Jaro-Winkler with the standard prefix scale 0.1 over at most 4 characters. */
export function jaroWinkler(a: string, b: string): number {
  const j = jaro(a, b);
  let prefix = 0;
  const max = Math.min(4, a.length, b.length);
  while (prefix < max && a[prefix] === b[prefix]) prefix++;
  return j + prefix * 0.1 * (1 - j);
}

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions (typos in codes). */
export function osaDistance(a: string, b: string): number {
  const la = a.length;
  const lb = b.length;
  if (!la) return lb;
  if (!lb) return la;
  if (lb + 1 > rowA.length) {
    rowA = new Int32Array(lb + 1);
    rowB = new Int32Array(lb + 1);
    rowC = new Int32Array(lb + 1);
  }
  let prev2 = rowA;
  let prev = rowB;
  let cur = rowC;
  for (let j = 0; j <= lb; j++) prev[j] = j;
  for (let i = 1; i <= la; i++) {
    cur[0] = i;
    const ca = a.charCodeAt(i - 1);
    for (let j = 1; j <= lb; j++) {
      const cb = b.charCodeAt(j - 1);
      let v = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca === cb ? 0 : 1));
      if (i > 1 && j > 1 && ca === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === cb) v = Math.min(v, prev2[j - 2] + 1);
      cur[j] = v;
    }
    const t = prev2;
    prev2 = prev;
    prev = cur;
    cur = t;
  }
  return prev[lb];
}
let rowA = new Int32Array(32);
let rowB = new Int32Array(32);
let rowC = new Int32Array(32);

/** 1 - OSA distance / longer length: for short codes (postcodes, ids, dates). */
export function codeSimilarity(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const n = Math.max(a.length, b.length);
  return n ? 1 - osaDistance(a, b) / n : 0;
}

const LONG_TEXT = 64;

/** Dice overlap of the words of two texts, as multisets. */
function wordDice(a: string, b: string): number {
  const counts = new Map<string, number>();
  const wa = a.split(" ").filter(Boolean);
  const wb = b.split(" ").filter(Boolean);
  for (const w of wa) counts.set(w, (counts.get(w) ?? 0) + 1);
  let common = 0;
  for (const w of wb) {
    const c = counts.get(w);
    if (c) {
      common++;
      counts.set(w, c - 1);
    }
  }
  return wa.length + wb.length ? (2 * common) / (wa.length + wb.length) : 0;
}

/**
 * 1 - Levenshtein distance / longer length, on tokens sorted so that word order does not matter;
 * texts longer than 64 characters by the overlap of their words.
 */
export function textSimilarity(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const n = Math.max(a.length, b.length);
  if (!n) return 0;
  // Long free text (notes, lists of names): edit distance is quadratic and says little there;
  // the overlap of the words does.
  if (n > LONG_TEXT) return wordDice(a, b);
  const direct = 1 - levenshtein(a, b) / n;
  const sa = a.split(" ").sort().join(" ");
  const sb = b.split(" ").sort().join(" ");
  const sorted = sa === a && sb === b ? direct : 1 - levenshtein(sa, sb) / Math.max(sa.length, sb.length);
  return Math.max(direct, sorted);
}

/** Do two words agree: equal, one an abbreviation (prefix of 3+ characters) of the other, or a close typo? */
function sameWord(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  if (short.length >= 3 && long.startsWith(short)) return true;
  return short.length >= 4 && jaroWinkler(a, b) >= 0.92;
}

/** Do two normalised names have a word in common (abbreviations and close typos count)? */
export function sharesWord(a: string, b: string): boolean {
  const tb = b.split(" ");
  return a.split(" ").some((w) => tb.some((x) => sameWord(w, x)));
}

/**
 * Normalised organisation names: the best of Jaro-Winkler on the whole name, the Dice overlap of
 * their words (abbreviations and typos count as the same word), and 0.9 when every word of a name of
 * two or more words appears in the other ("st catherine st lucy" in "chicago commons association st
 * catherine st lucy school").
 */
export function organisationSimilarity(a: string, b: string): number {
  if (a === b) return a.length ? 1 : 0;
  const jw = jaroWinkler(a, b);
  const ta = a.split(" ");
  const tb = b.split(" ");
  const [short, long] = ta.length <= tb.length ? [ta, tb] : [tb, ta];
  const used = new Uint8Array(long.length);
  let matched = 0;
  for (const w of short) {
    for (let k = 0; k < long.length; k++) {
      if (!used[k] && sameWord(w, long[k])) {
        used[k] = 1;
        matched++;
        break;
      }
    }
  }
  const dice = (2 * matched) / (ta.length + tb.length);
  const contained = short.length >= 2 && matched === short.length ? 0.9 : 0;
  return Math.max(jw, dice, contained);
}

/**
 * Normalised addresses: edit similarity on the text (word order ignored), raised to 0.97 when house
* number and street word agree ("27 washington oak park il" and "27 north washington boulevard").
 */
export function addressSimilarity(a: string, b: string): number {
  const text = textSimilarity(a, b);
  const pa = addressParts(a);
  const pb = addressParts(b);
  if (pa && pb && pa.number === pb.number && sameWord(pa.street, pb.street)) return Math.max(text, 0.97);
  return text;
}

/**
 * Phone numbers as E.164 (`+...`) or bare digits (numbers that did not parse): the same national
 * tail of MIN_PHONE_DIGITS or more digits is agreement (a bare 7- or 10-digit number against its
 * E.164 form); otherwise edit similarity of the last ten digits. Two parsed numbers carry their
 * country codes and are compared whole: a shared tail does not make them one number.
 */
export function phoneSimilarity(a: string, b: string): number {
  const da = a.charCodeAt(0) === 43 ? a.slice(1) : a;
  const db = b.charCodeAt(0) === 43 ? b.slice(1) : b;
  if (da === db) return 1;
  const n = Math.min(da.length, db.length);
  if (a !== da && b !== db) return codeSimilarity(da, db);
  if (n >= MIN_PHONE_DIGITS && da.slice(-n) === db.slice(-n)) return 1;
  const k = Math.min(n, 10);
  return codeSimilarity(da.slice(-k), db.slice(-k));
}
