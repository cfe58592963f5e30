/**
 * Bearer JWT authentication: HS256 with the shared secret, `{agentId, tenantId, scopes, iat, exp}`.
 * Everything else (alg none, another algorithm, a wrong key, no expiry) is refused.
 */
import { createSecretKey, type KeyObject } from "node:crypto";
import jwt from "jsonwebtoken";
import { isUuid } from "../lib/uuid";

export interface TokenClaims {
  agentId: string;
  tenantId: string;
  scopes: string[];
  iat: number;
  exp: number;
}

export class AuthError extends Error {
  constructor(
    public readonly status: 401 | 403,
    message: string,
    /** What an unverified token claimed, for the audit row; never trusted for access. */
    public readonly claimed?: { tenantId?: string; agentId?: string },
  ) {
    super(message);
    this.name = "AuthError";
  }
}

export const SCOPES = { call: "a2a:call", read: "a2a:read" } as const;

/**
 * jsonwebtoken tries to parse a string secret as a public key on every call (an exception each
 * time, most of the gateway's CPU under load); a KeyObject made once skips that.
 */
const keys = new Map<string, KeyObject>();
function secretKey(secret: string): KeyObject {
  let key = keys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret, "utf8"));
    keys.set(secret, key);
  }
  return key;
}

export function signToken(secret: string, claims: { agentId: string; tenantId: string; scopes: string[] }, ttlSeconds: number, issuer?: string): string {
  return jwt.sign(claims, secretKey(secret), { algorithm: "HS256", expiresIn: ttlSeconds, ...(issuer ? { issuer } : {}) });
}

export function verifyBearer(header: string | undefined, secret: string, issuer?: string): TokenClaims {
  if (!header) throw new AuthError(401, "missing bearer token");
  const m = /^Bearer\s+(\S+)$/i.exec(header);
  if (!m) throw new AuthError(401, "Authorization must be 'Bearer <token>'");
  let payload: jwt.JwtPayload;
  try {
    const decoded = jwt.verify(m[1], secretKey(secret), { algorithms: ["HS256"], ...(issuer ? { issuer } : {}) });
    if (typeof decoded === "string") throw new Error("token payload must be a JSON object");
    payload = decoded;
  } catch (e) {
    const claimed = jwt.decode(m[1]);
    const c = claimed && typeof claimed === "object" ? claimed : {};
    throw new AuthError(401, `invalid token: ${(e as Error).message}`, {
      tenantId: typeof c.tenantId === "string" ? c.tenantId : undefined,
      agentId: typeof c.agentId === "string" ? c.agentId : undefined,
    });
  }
  const { agentId, tenantId, scopes, iat, exp } = payload as Partial<TokenClaims>;
  if (typeof exp !== "number") throw new AuthError(401, "token has no expiry (exp)");
  if (typeof agentId !== "string" || !agentId) throw new AuthError(401, "token has no agentId");
  if (!isUuid(tenantId)) throw new AuthError(401, "token has no valid tenantId");
  if (!Array.isArray(scopes) || scopes.some((s) => typeof s !== "string")) throw new AuthError(401, "token scopes must be a list of strings");
  return { agentId, tenantId, scopes, iat: iat ?? 0, exp };
}

export function requireScope(claims: TokenClaims, ...anyOf: string[]): void {
  if (!anyOf.some((s) => claims.scopes.includes(s))) {
    throw new AuthError(403, `token lacks scope ${anyOf.join(" or ")}`, { tenantId: claims.tenantId, agentId: claims.agentId });
  }
}
