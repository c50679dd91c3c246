/**
 * The gateway's side of an agent's SCRAM-SHA-256 login (RFC 5802, RFC 7677), with
 * tls-server-end-point channel binding (RFC 5929) when the agent came over TLS. Pure: messages in,
 * messages out. The agent is unknown until its proof arrives (Postgres agents present only a
 * token), so the proof is checked against every agent's StoredKey.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createHash, createHmac, timingSafeEqual, X509Certificate } from "node:crypto";
import type { AgentFacts } from "../../core/mod.ts";
import type { PostgresScramVerifiers } from "./context.ts";
import { ProtocolError } from "./_frontend.ts";
import { Writer } from "./_encode.ts";

/** SASL mechanism names, as PostgreSQL spells them. */
export const SCRAM = "SCRAM-SHA-256";
/** SCRAM with channel binding. */
export const SCRAM_PLUS = "SCRAM-SHA-256-PLUS";

const NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

function violation(message: string): ProtocolError {
  return new ProtocolError(message, "08P01");
}

/** AuthenticationSASL listing `mechanisms`. */
export function authenticationSasl(mechanisms: string[]): Uint8Array {
  const w = new Writer("R").int32(10);
  for (const m of mechanisms) w.cstring(m);
  return w.byte(0).finish();
}

/** AuthenticationSASLContinue (11) or AuthenticationSASLFinal (12) carrying `data`. */
export function authenticationSaslData(code: 11 | 12, data: string): Uint8Array {
  return new Writer("R").int32(code).bytes(new TextEncoder().encode(data)).finish();
}

/** A SASLInitialResponse body: the mechanism and its initial data. */
export function parseSaslInitialResponse(body: Uint8Array): { mechanism: string; data: string } {
  const end = body.indexOf(0);
  if (end < 0 || body.length < end + 5) throw violation("malformed SASLInitialResponse message");
  const mechanism = new TextDecoder().decode(body.subarray(0, end));
  const length = new DataView(body.buffer, body.byteOffset + end + 1, 4).getInt32(0);
  if (length !== body.length - end - 5) throw violation("malformed SASLInitialResponse message");
  return { mechanism, data: decodeUtf8(body.subarray(end + 5)) };
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw violation("malformed SCRAM message: invalid UTF-8");
  }
}

/**
 * The tls-server-end-point channel binding data of the leaf in `certPem` (RFC 5929 §4.1): its
 * DER hashed with the hash of its signature algorithm, SHA-256 in place of MD5 and SHA-1.
 * `null` when that hash is not one libpq would pick too (PostgreSQL then refuses PLUS as well).
 */
export function tlsServerEndPoint(certPem: string): Uint8Array | null {
  const cert = new X509Certificate(certPem);
  const der = new Uint8Array(cert.raw);
  const oid = signatureOid(der);
  const hash = oid === null ? null : SIGNATURE_HASHES[oid];
  if (!hash) return null;
  return new Uint8Array(createHash(hash).update(der).digest());
}

const SIGNATURE_HASHES: Record<string, string> = {
  "2a8648ce3d0401": "sha256", // ecdsa-with-SHA1 → SHA-256
  "2a8648ce3d040302": "sha256",
  "2a8648ce3d040303": "sha384",
  "2a8648ce3d040304": "sha512",
  "2a864886f70d010104": "sha256", // md5WithRSAEncryption → SHA-256
  "2a864886f70d010105": "sha256", // sha1WithRSAEncryption → SHA-256
  "2a864886f70d01010b": "sha256",
  "2a864886f70d01010c": "sha384",
  "2a864886f70d01010d": "sha512",
};

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm SEQUENCE { OID, … }, … }. */
function signatureOid(der: Uint8Array): string | null {
  const tlv = (at: number) => {
    if (at + 2 > der.length) return null;
    let length = der[at + 1];
    let start = at + 2;
    if (length & 0x80) {
      const n = length & 0x7f;
      if (n === 0 || n > 3 || start + n > der.length) return null;
      length = 0;
      for (let i = 0; i < n; i++) length = length * 256 + der[start + i];
      start += n;
    }
    return { tag: der[at], start, end: start + length };
  };
  const outer = tlv(0);
  const tbs = outer && tlv(outer.start);
  const algorithm = tbs && tlv(tbs.end);
  const oid = algorithm && tlv(algorithm.start);
  if (!oid || oid.tag !== 0x06 || oid.end > der.length) return null;
  return Buffer.from(der.subarray(oid.start, oid.end)).toString("hex");
}

/** What a completed exchange yields: the agent and the server-final-message to send. */
export interface ScramOutcome {
  agent: AgentFacts;
  serverFinal: string;
}

/**
 * One agent login over SCRAM-SHA-256(-PLUS).
 *
 * @example
 * ```ts
 * const scram = new ScramServer(verifiers, endPoint);      // endPoint: null without TLS
 * send(authenticationSasl(scram.mechanisms));
 * send(authenticationSaslData(11, scram.serverFirst(parseSaslInitialResponse(body))));
 * const outcome = scram.serverFinal(clientFinal);          // null: wrong token (28P01)
 * ```
 */
export class ScramServer {
  /** Offered mechanisms: PLUS first when the connection can bind (libpq picks the first it can). */
  readonly mechanisms: string[];
  readonly #verifiers: PostgresScramVerifiers;
  readonly #endPoint: Uint8Array | null;
  readonly #serverNonce: string;
  #gs2Header: string | null = null;
  #clientFirstBare = "";
  #serverFirst = "";
  #nonce = "";

  /** `endPoint`: the tls-server-end-point data of the agent's TLS connection, `null` without. */
  constructor(verifiers: PostgresScramVerifiers, endPoint: Uint8Array | null, nonce?: string) {
    this.#verifiers = verifiers;
    this.#endPoint = endPoint;
    this.mechanisms = endPoint ? [SCRAM_PLUS, SCRAM] : [SCRAM];
    this.#serverNonce = nonce ??
      Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString("base64");
  }

  /** The server-first-message answering the client-first-message. Throws 08P01 when malformed. */
  serverFirst(initial: { mechanism: string; data: string }): string {
    if (this.#gs2Header !== null) throw violation("SCRAM exchange out of order");
    const { mechanism, data } = initial;
    if (!this.mechanisms.includes(mechanism)) {
      throw violation("client selected an invalid SASL authentication mechanism");
    }
    const m = /^(n|y|p=([^,]*)),([^,]*),(.*)$/s.exec(data);
    if (!m) throw violation("malformed SCRAM message: invalid GS2 header");
    const [, flag, cbName, authzid, bare] = m;
    if (authzid !== "") throw violation("client uses authorization identity, not supported");
    if (flag.startsWith("p=")) {
      if (mechanism !== SCRAM_PLUS) {
        throw violation(`client selected ${SCRAM} but sent channel binding data`);
      }
      if (cbName !== "tls-server-end-point") {
        throw violation(`unsupported SCRAM channel-binding type "${cbName.slice(0, 32)}"`);
      }
    } else if (mechanism === SCRAM_PLUS) {
      throw violation(`client selected ${SCRAM_PLUS} without channel binding data`);
    } else if (flag === "y" && this.#endPoint) {
      // RFC 5802 §6: the client could bind and believes we cannot: PLUS was stripped on the way.
      throw violation("SCRAM channel binding negotiation error");
    }
    const attrs = /^n=[^,]*,r=([^,]*)((?:,[a-zA-Z]=[^,]*)*)$/s.exec(bare);
    if (!attrs) throw violation("malformed SCRAM message: expected n= and r=");
    if (/,m=/.test(attrs[2])) {
      throw violation("client requires an unsupported SCRAM extension");
    }
    if (!NONCE.test(attrs[1])) throw violation("malformed SCRAM message: invalid nonce");
    this.#gs2Header = `${flag},${authzid},`;
    this.#clientFirstBare = bare;
    this.#nonce = attrs[1] + this.#serverNonce;
    const salt = Buffer.from(this.#verifiers.salt).toString("base64");
    this.#serverFirst = `r=${this.#nonce},s=${salt},i=${this.#verifiers.iterations}`;
    return this.#serverFirst;
  }

  /**
   * Checks the client-final-message: the binding and the nonce (08P01 when wrong), then the
   * proof against every agent. `null` when no agent's key verifies it (28P01).
   */
  serverFinal(clientFinal: string): ScramOutcome | null {
    const header = this.#gs2Header;
    if (header === null) throw violation("SCRAM exchange out of order");
    this.#gs2Header = null;
    const m = /^c=([^,]*),r=([^,]*)((?:,[a-oq-z]=[^,]*)*),p=([^,]*)$/s.exec(clientFinal);
    if (!m) throw violation("malformed SCRAM message: expected c=, r= and p=");
    const [, binding, nonce, , proofText] = m;
    const cbind = Buffer.from(header, "latin1");
    const expected = header.startsWith("p=")
      ? Buffer.concat([cbind, this.#endPoint ?? new Uint8Array()])
      : cbind;
    const presented = Buffer.from(binding, "base64");
    if (presented.toString("base64") !== binding || !constantEqual(presented, expected)) {
      throw violation("SCRAM channel binding check failed");
    }
    if (nonce !== this.#nonce) throw violation("SCRAM nonce mismatch");
    const proof = Buffer.from(proofText, "base64");
    if (proof.toString("base64") !== proofText || proof.length !== 32) {
      throw violation("malformed SCRAM message: invalid proof");
    }
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(",p="));
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    // Every key is tried, match or not, so timing says nothing about which agent (if any) it was.
    let found: PostgresScramVerifiers["keys"][number] | null = null;
    for (const key of this.#verifiers.keys) {
      const signature = createHmac("sha256", key.storedKey).update(authMessage).digest();
      const clientKey = proof.map((b, i) => b ^ signature[i]);
      const candidate = createHash("sha256").update(clientKey).digest();
      if (constantEqual(candidate, key.storedKey) && found === null) found = key;
    }
    if (found === null) return null;
    const serverSignature = createHmac("sha256", found.serverKey).update(authMessage).digest();
    return { agent: found.agent, serverFinal: `v=${serverSignature.toString("base64")}` };
  }
}

function constantEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
