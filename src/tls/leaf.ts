// Per-host leaf certificates, signed by the gateway CA, that the gateway presents when it
// terminates an agent's TLS connection.
import { BlockList, isIP } from "node:net";
import type { GatewayCa } from "./ca.ts";
import {
  addDays,
  BACKDATE_MS,
  EC_KEY_ALGORITHM,
  encodePem,
  nowSeconds,
  randomSerial,
} from "./_x509.ts";
import {
  type AltName,
  authorityKeyId,
  basicConstraints,
  commonNameOf,
  KEY_USAGE,
  keyIdOf,
  keyUsage,
  serverAuthOnly,
  signCertificate,
  subjectAltName as altNames,
  subjectKeyId,
} from "./_cert.ts";

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

// 127.0.0.0/8 and ::1 (IPv4-mapped spellings included): addresses that only ever reach this host.
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

// Every spelling an agent on this host may use for a loopback listener: libpq's verify-full,
// JavaScript database drivers and kubectl check the name they dialled (often `localhost`), not the address.
const LOOPBACK_NAMES: AltName[] = [
  { type: "dns", value: "localhost" },
  { type: "ip", value: "127.0.0.1" },
  { type: "ip", value: "::1" },
];

/**
 * Mints a leaf certificate for `host` (a DNS name or an IP address) signed by the gateway CA:
 * ECDSA P-256, subjectAltName for the host, extendedKeyUsage serverAuth, valid for
 * {@linkcode LEAF_VALID_DAYS} days (clipped to the CA's own expiry).
 *
 * A loopback host (`localhost`, 127.0.0.0/8, `::1`) also gets `DNS:localhost`, `IP:127.0.0.1`
 * and `IP:::1`, so a client of a loopback listener verifies whichever of them it dialled. These
 * all name this host and nothing else; any other host gets exactly its own name.
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
  const names = subjectAltNames(host);
  const now = nowSeconds();
  if (ca.cert.notAfter <= now) {
    throw new RangeError(
      `Cannot mint a leaf certificate: the gateway CA expired on ${ca.cert.notAfter.toISOString()}`,
    );
  }
  const wanted = addDays(now, LEAF_VALID_DAYS);
  const notAfter = wanted < ca.cert.notAfter ? wanted : ca.cert.notAfter;
  const caKeyId = ca.cert.subjectKeyId;

  const keys = await crypto.subtle.generateKey(EC_KEY_ALGORITHM, true, ["sign", "verify"]);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("spki", keys.publicKey));
  const der = await signCertificate({
    serial: randomSerial(),
    issuer: ca.cert.subject,
    subject: commonNameOf(names[0].value),
    notBefore: new Date(now.getTime() - BACKDATE_MS),
    notAfter,
    publicKey,
    extensions: [
      basicConstraints(false),
      keyUsage([KEY_USAGE.digitalSignature]),
      serverAuthOnly(),
      altNames(names),
      subjectKeyId(await keyIdOf(publicKey)),
      ...(caKeyId ? [authorityKeyId(caKeyId)] : []),
    ],
  }, ca.privateKey);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey("pkcs8", keys.privateKey));
  const keyPem = encodePem(pkcs8, "PRIVATE KEY");
  pkcs8.fill(0);
  return { certPem: encodePem(der, "CERTIFICATE"), keyPem, notAfter };
}

/** The SAN entries for `host`, its own first; a loopback host adds the other loopback names. */
function subjectAltNames(host: string): AltName[] {
  const own = subjectAltName(host);
  const loopback = own.type === "ip"
    ? LOOPBACK.check(own.value, isIP(own.value) === 6 ? "ipv6" : "ipv4")
    : own.value === "localhost";
  if (!loopback) return [own];
  return [own, ...LOOPBACK_NAMES.filter((n) => n.type !== own.type || n.value !== own.value)];
}

/** The SAN entry for `host`: an IP address (brackets around IPv6 allowed) or a DNS name. */
function subjectAltName(host: string): AltName {
  const bare = host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
  if (isIP(bare)) return { type: "ip", value: bare };
  const dns = host.toLowerCase().replace(/\.$/, "");
  if (dns.length > 0 && dns.length <= 253 && dns.split(".").every((l) => DNS_LABEL.test(l))) {
    return { type: "dns", value: dns };
  }
  throw new TypeError(`Cannot mint a leaf certificate for '${host}': not a DNS name or IP address`);
}
