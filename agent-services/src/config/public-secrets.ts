/**
 * Secrets anyone can read: every value this repository ships or shows as a secret (defaults,
 * examples, test fixtures). Outside development and test, the config loader refuses them, so a
 * deployment started with a copied example is not one whose tokens anyone can sign. A test scans
 * the repository and fails when a secret-like value there is missing from this list.
 */
export const PUBLISHED_SECRETS: ReadonlySet<string> = new Set([
  "dev-only-secret-change-me-0123456789abcdef",
  "change-me-in-production-0123456789abcdef",
  "CHANGE-ME-at-least-32-characters-long-secret",
  "CHANGE-ME-operator-token",
  "CHANGE-ME",
  "test-secret-0123456789abcdef0123456789abcdef",
  "dealscale_app",
  "postgres",
  "ops-token-0123456789abcdef",
  "metrics-token-0123456789abcdef",
]);

/** Words that mark a placeholder rather than a secret of one's own. */
const PLACEHOLDER = /change[-_ ]?me|dev-only|placeholder|example|not-a-secret/i;

export function isPublishedSecret(value: string): boolean {
  return PUBLISHED_SECRETS.has(value) || PLACEHOLDER.test(value);
}
