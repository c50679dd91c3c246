/**
 * A throwaway certificate authority for test servers and clients, kept in memory: a self-signed
 * ECDSA P-256 root and leaves signed by it, minted with `@peculiar/x509` the way tests/_postgres.ts
 * does. Unlike src/tls's mintLeaf, a leaf here may carry several SANs and may be a client cert.
 *
 * @example
 * ```ts
 * import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";
 *
 * const ca = await mintTestCa("my test CA");
 * const server = await mintTestCertificate(ca, { hosts: ["127.0.0.1", "localhost"] });
 * Deno.serve({ port: 0, cert: server.certPem, key: server.keyPem }, () => new Response("ok"));
 * ```
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";

const KEY_ALGORITHM: EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const SIGNING_ALGORITHM: EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
/** Backdated so a client whose clock runs a little slow still accepts the certificates. */
const BACKDATE_MS = 3600_000;
const VALID_MS = 2 * 86400_000;

/** A CA that exists only for one test run. */
export interface TestCa {
  /** The CA certificate, PEM: what clients (or servers checking client certs) trust. */
  certPem: string;
  cert: x509.X509Certificate;
  privateKey: CryptoKey;
}

/** A certificate signed by a {@linkcode TestCa} and its key. */
export interface TestCertificate {
  certPem: string;
  /** PKCS#8 PEM. */
  keyPem: string;
}

/** Options for {@linkcode mintTestCertificate}. */
export interface MintTestCertificateOptions {
  /** DNS names and IPs for the subjectAltName. @default {["127.0.0.1", "localhost"]} */
  hosts?: string[];
  /** Subject CN. @default {the first host} */
  commonName?: string;
  /** Subject O entries (Kubernetes reads them as the user's groups). @default {[]} */
  organizations?: string[];
  /** extendedKeyUsage: a TLS server or a TLS client certificate. @default {"server"} */
  usage?: "server" | "client";
}

function pem(der: ArrayBuffer, label: string): string {
  return `${x509.PemConverter.encode(der, label).trim()}\n`;
}

// RFC 5280 §4.1.2.2: a positive serial of at most 20 octets; the leading "01" keeps it positive.
function serial(): string {
  return `01${crypto.randomUUID().replaceAll("-", "")}`;
}

/**
 * Creates a self-signed CA (basicConstraints CA:true, keyCertSign) valid for two days.
 *
 * @example
 * ```ts
 * const ca = await mintTestCa("clawpatrol test CA");
 * ```
 */
export async function mintTestCa(commonName = "clawpatrol test CA"): Promise<TestCa> {
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [commonName] }],
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALID_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: pem(cert.rawData, "CERTIFICATE"), cert, privateKey: keys.privateKey };
}

/**
 * Mints a leaf signed by `ca`: a server certificate with every host as a SAN, or a client
 * certificate (e.g. a Kubernetes user `CN=alice, O=devs`).
 *
 * @example
 * ```ts
 * const ca = await mintTestCa();
 * const client = await mintTestCertificate(ca, { usage: "client", commonName: "alice", hosts: [] });
 * ```
 */
export async function mintTestCertificate(
  ca: TestCa,
  options: MintTestCertificateOptions = {},
): Promise<TestCertificate> {
  const { hosts = ["127.0.0.1", "localhost"], usage = "server", organizations = [] } = options;
  const commonName = options.commonName ?? hosts[0];
  if (!commonName) throw new TypeError("Cannot mint a test certificate: no commonName or host");
  const keys = await crypto.subtle.generateKey(KEY_ALGORITHM, true, ["sign", "verify"]);
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: [{ CN: [commonName] }, ...organizations.map((o) => ({ O: [o] }))],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + VALID_MS),
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
      ]),
      ...(hosts.length > 0
        ? [
          new x509.SubjectAlternativeNameExtension(
            hosts.map((h): x509.JsonGeneralName => ({ type: isIP(h) ? "ip" : "dns", value: h })),
          ),
        ]
        : []),
    ],
  });
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  return { certPem: pem(cert.rawData, "CERTIFICATE"), keyPem: pem(pkcs8, "PRIVATE KEY") };
}
