import { execFileSync } from "node:child_process";
import fs from "node:fs";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { ConfigError, loadConfig } from "../src/config/config";
import { startTestStack, type TestStack } from "./support/harness";

let dir: string;
let cert: string;
let key: string;
let t: TestStack;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-tls-"));
  cert = path.join(dir, "cert.pem");
  key = path.join(dir, "key.pem");
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "1",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
    "-keyout", key, "-out", cert,
  ], { stdio: "ignore" });
  t = await startTestStack({ TLS_CERT_FILE: cert, TLS_KEY_FILE: key });
});
afterAll(async () => {
  await t?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function get(url: string, tls: https.RequestOptions): Promise<{ status: number; body: string; protocol: string | null; cipher: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...tls, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        const socket = res.socket as import("node:tls").TLSSocket;
        resolve({ status: res.statusCode!, body, protocol: socket.getProtocol?.() ?? null, cipher: socket.getCipher?.().name ?? "" });
      });
    });
    req.on("error", reject);
    req.end();
  });
}

test("the gateway serves HTTPS itself with TLS 1.3 when given a certificate and key", async () => {
  expect(t.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  const res = await get(`${t.url}/health`, { ca: fs.readFileSync(cert), rejectUnauthorized: true });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body)).toEqual({ status: "ok" });
  expect(res.protocol).toBe("TLSv1.3");
  expect(["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_GCM_SHA256"]).toContain(res.cipher);
});

test("a client that only speaks TLS 1.2 is refused", async () => {
  await expect(get(`${t.url}/health`, { ca: fs.readFileSync(cert), maxVersion: "TLSv1.2" })).rejects.toThrow(/protocol|version|alert/i);
});

test("a client that does not trust the certificate is refused", async () => {
  await expect(get(`${t.url}/health`, { rejectUnauthorized: true })).rejects.toThrow(/self[- ]signed|certificate/i);
});

test("the API works over HTTPS", async () => {
  const token = t.token(await t.tenant(10));
  const res = await new Promise<number>((resolve, reject) => {
    const req = https.request(`${t.url}/agents`, { ca: fs.readFileSync(cert), headers: { authorization: `Bearer ${token}` }, agent: false }, (r) => {
      r.resume();
      resolve(r.statusCode!);
    });
    req.on("error", reject);
    req.end();
  });
  expect(res).toBe(200);
});

describe("configuration", () => {
  const base = { NODE_ENV: "test", A2A_JWT_SECRET: "test-secret-0123456789abcdef0123456789abcdef" };
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ ...base, ...env });
      return [];
    } catch (e) {
      if (e instanceof ConfigError) return e.problems;
      throw e;
    }
  };

  test("certificate and key are given together", () => {
    expect(problems({ TLS_CERT_FILE: cert }).join("\n")).toMatch(/TLS_CERT_FILE and TLS_KEY_FILE must be given together/);
    expect(problems({ TLS_KEY_FILE: key }).join("\n")).toMatch(/TLS_CERT_FILE and TLS_KEY_FILE must be given together/);
    expect(problems({ TLS_CA_FILE: cert }).join("\n")).toMatch(/TLS_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE/);
  });

  test("the files must exist, be readable and load as a certificate and its key", () => {
    expect(problems({ TLS_CERT_FILE: path.join(dir, "missing.pem"), TLS_KEY_FILE: key }).join("\n")).toMatch(/TLS_CERT_FILE is not a readable file: .*missing\.pem.*ENOENT/);
    expect(problems({ TLS_CERT_FILE: dir, TLS_KEY_FILE: key }).join("\n")).toMatch(/TLS_CERT_FILE must name a file/);
    expect(problems({ TLS_CERT_FILE: key, TLS_KEY_FILE: cert }).join("\n")).toMatch(/do not load as a PEM certificate/);
    expect(loadConfig({ ...base, TLS_CERT_FILE: cert, TLS_KEY_FILE: key, TLS_CA_FILE: cert }).tls).toEqual({ certFile: cert, keyFile: key, caFile: cert });
    expect(loadConfig(base).tls).toBeUndefined();
  });
});
