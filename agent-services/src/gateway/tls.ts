/**
 * The gateway's own HTTPS: TLS 1.3 only, with the design notes' cipher suites. Without TLS files the
 * gateway serves plain HTTP (behind a TLS-terminating proxy or on a laptop).
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";

export const TLS_MIN_VERSION = "TLSv1.3";
export const TLS_CIPHERS = "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Extra CA / intermediate certificates sent with the server certificate. */
  caFile?: string;
}

export function createServer(app: http.RequestListener, tls: TlsFiles | undefined): http.Server {
  if (!tls) return http.createServer(app);
  return https.createServer(
    {
      cert: fs.readFileSync(tls.certFile),
      key: fs.readFileSync(tls.keyFile),
      ...(tls.caFile ? { ca: fs.readFileSync(tls.caFile) } : {}),
      minVersion: TLS_MIN_VERSION,
      ciphers: TLS_CIPHERS,
    },
    app,
  );
}
