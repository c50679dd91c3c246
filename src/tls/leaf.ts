// Per-host leaf certificates, signed by the gateway CA, that the gateway presents when it
// terminates an agent's TLS connection.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import type { GatewayCa } from "./ca.ts";
import {
  addDays,
  BACKDATE_MS,
  EC_KEY_ALGORITHM,
  encodePem,
  nowSeconds,
  randomSerial,
  SIGNING_ALGORITHM,
} from "./_x509.ts";

/** A leaf certificate and its private key, ready for `tls.createSecureContext` or `Deno.listenTls`. */
export interface LeafCertificate {
  /** The leaf certificate, PEM. */
  certPem: string;
  /** The leaf's ECDSA P-256 private key, PKCS#8 PEM. */
  keyPem: string;
  /** When the leaf expires (at most {@linkcode LEAF_VALID_DAYS} days, never past the CA). */
  notAfter: Date;
}

/** Days a minted leaf stays valid. Short, since the gateway mints a fresh one on demand. */
export const LEAF_VALID_DAYS = 7;

// RFC 1123 labels; underscores allowed because real hostnames carry them (e.g. `_dmarc`-style).
const DNS_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Mints a leaf certificate for `host` (a DNS name or an IP address) signed by the gateway CA:
 * ECDSA P-256, subjectAltName for the host, extendedKeyUsage serverAuth, valid for
 * {@linkcode LEAF_VALID_DAYS} days (clipped to the CA's own expiry).
 *
 * @throws {TypeError} when `host` is neither a DNS name nor an IP address.
 * @throws {RangeError} when the CA has expired.
 *
 * @example
 * ```ts
 * const ca = await loadGatewayCa("./state");
 * const { certPem, keyPem } = await mintLeaf(ca, "api.github.com");
 * const listener = Deno.listenTls({ port: 8443, cert: certPem, key: keyPem });
 * ```
 */
export async function mintLeaf(ca: GatewayCa, host: string): Promise<LeafCertificate> {
  const name = subjectAltName(host);
  const now = nowSeconds();
  if (ca.cert.notAfter <= now) {
    throw new RangeError(
      `Cannot mint a leaf certificate: the gateway CA expired on ${ca.cert.notAfter.toISOString()}`,
    );
  }
  const wanted = addDays(now, LEAF_VALID_DAYS);
  const notAfter = wanted < ca.cert.notAfter ? wanted : ca.cert.notAfter;
  const caKeyId = ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;

  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: [{ CN: [name.value] }],
    issuer: ca.cert.subjectName,
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    signingAlgorithm: SIGNING_ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([name]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...(caKeyId ? [new x509.AuthorityKeyIdentifierExtension(caKeyId)] : []),
    ],
  });
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = encodePem(pkcs8.buffer, "PRIVATE KEY");
  pkcs8.fill(0);
  return { certPem: encodePem(cert.rawData, "CERTIFICATE"), keyPem, notAfter };
}

/** The SAN entry for `host`: an IP address (brackets around IPv6 allowed) or a DNS name. */
function subjectAltName(host: string): x509.JsonGeneralName {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (isIP(bare)) return { type: "ip", value: bare };
  const dns = host.toLowerCase().replace(/\.$/, "");
  if (dns.length > 0 && dns.length <= 253 && dns.split(".").every((l) => DNS_LABEL.test(l))) {
    return { type: "dns", value: dns };
  }
  throw new TypeError(`Cannot mint a leaf certificate for '${host}': not a DNS name or IP address`);
}
