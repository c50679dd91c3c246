/**
 * AWS Signature Version 4 for a gateway that holds the real key: a request the agent signed with
 * its placeholder key pair is verified with that pair (so the request the rules decided is the
 * request the agent meant, for this credential), then signed again with the real key, by the
 * signer the AWS SDKs use (`@smithy/signature-v4`). Also the presigned STS call EKS takes as a
 * bearer token.
 *
 * Security invariants: the real secret only ever keys an HMAC here, and no error message holds a
 * key, a signature computed with a real key, or a header value.
 *
 * @module
 */

import type { SignatureV4 } from "@smithy/signature-v4";
import { Sha256, sha256Hex } from "./_sha256.ts";
import { resignChunks, STREAMING_SIGNED } from "./_aws_chunks.ts";
import { AwsSignatureError } from "./_aws_error.ts";

export { AwsSignatureError };

/** An AWS key pair, with the session token of temporary credentials. */
export interface AwsKeys {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/** A request as the gateway forwards it, signed by the agent. */
export interface SignedRequest {
  method: string;
  /** The `Host` header forwarded: `host` or `host:port`. */
  authority: string;
  /** Origin-form target: path and `?query`, as forwarded. */
  target: string;
  /** Headers to forward (no Host, no framing). */
  headers: [string, string][];
  body: Uint8Array;
  bodyTruncated: boolean;
}

/** Options for {@linkcode resignRequest}. */
export interface ResignOptions {
  /** The pair the agent signs with (its placeholder id and placeholder secret). */
  placeholder: AwsKeys;
  /** The pair from the vault. */
  real: AwsKeys;
  /** The signing time of the new signature. @default {new Date()} */
  now?: Date;
}

/** The parts of a SigV4 `Authorization` header. */
export interface SigV4Authorization {
  accessKeyId: string;
  /** `20261205`. */
  date: string;
  region: string;
  service: string;
  /** Lower-case header names, as listed. */
  signedHeaders: string[];
  signature: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

/** Parses a SigV4 `Authorization` header value, or `null` when it is not one. */
export function parseAuthorization(value: string): SigV4Authorization | null {
  const m = AUTHORIZATION.exec(value.trim());
  if (!m) return null;
  return {
    accessKeyId: m[1],
    date: m[2],
    region: m[3],
    service: m[4],
    signedHeaders: m[5].split(";"),
    signature: m[6],
  };
}

/** Headers the re-signed request takes from the signer, never from the agent. */
const SIGNER_HEADERS = new Set(["authorization", "x-amz-date", "x-amz-security-token"]);

/**
 * Verifies that `request` was signed with `placeholder`, then signs it with `real`: the result
 * is the request's headers with `Authorization`, `X-Amz-Date` and `X-Amz-Security-Token` the
 * signer's, and its body (re-signed chunk by chunk for `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`;
 * otherwise as it was: the payload hash header the agent signed is signed again as is).
 *
 * @throws {AwsSignatureError} when the request is not signed with the placeholder pair, is
 * presigned, or cannot be verified (a body past the buffer with no payload hash header).
 *
 * @example
 * ```ts
 * const out = await resignRequest(request, { placeholder, real });
 * out.headers.find(([n]) => n === "authorization"); // signed with real.accessKeyId
 * ```
 */
export async function resignRequest(
  request: SignedRequest,
  options: ResignOptions,
): Promise<{ headers: [string, string][]; body: Uint8Array }> {
  const { placeholder, real } = options;
  const { path, query } = splitTarget(request.target);
  if (Object.keys(query).some((k) => k.toLowerCase() === "x-amz-signature")) {
    throw new AwsSignatureError(
      "presigned URLs are refused: send the request signed in its Authorization header",
    );
  }
  const values = headerMap(request.headers);
  const auth = parseAuthorization(values.get("authorization") ?? "");
  if (!auth) {
    throw new AwsSignatureError("the request carries no AWS Signature Version 4 Authorization");
  }
  if (auth.accessKeyId !== placeholder.accessKeyId) {
    throw new AwsSignatureError(
      "the request is signed with an access key id the gateway does not hold",
    );
  }
  const signedAt = parseAmzDate(values.get("x-amz-date"));
  if (!signedAt || formatShortDate(signedAt) !== auth.date) {
    throw new AwsSignatureError(
      "the request's X-Amz-Date is missing or does not match its signature",
    );
  }
  const payloadHash = values.get("x-amz-content-sha256");
  if (payloadHash === undefined && request.bodyTruncated) {
    throw new AwsSignatureError(
      "the request body is larger than limits.body_buffer and carries no X-Amz-Content-SHA256: its signature cannot be checked",
    );
  }
  if (
    payloadHash !== undefined && /^[0-9a-f]{64}$/.test(payloadHash) && !request.bodyTruncated &&
    sha256Hex(request.body) !== payloadHash
  ) {
    // S3 would refuse it too, but the rules must never have decided on another body.
    throw new AwsSignatureError("the request's X-Amz-Content-SHA256 does not match the body");
  }
  const signed: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const value = name === "host" ? request.authority : values.get(name);
    if (value === undefined) {
      throw new AwsSignatureError(`the signed header '${name}' is missing from the request`);
    }
    signed[name] = value;
  }
  const base = {
    method: request.method.toUpperCase(),
    protocol: "https:",
    hostname: request.authority,
    path,
    query,
    body: payloadHash === undefined ? request.body : undefined,
  };
  const scope = { region: auth.region, service: auth.service };
  const agents = await (await signer(placeholder, scope)).sign(
    { ...base, headers: signed },
    { signingDate: signedAt, signableHeaders: new Set(auth.signedHeaders) },
  );
  const expected = parseAuthorization(String(agents.headers["authorization"]));
  if (!expected || !sameText(expected.signature, auth.signature)) {
    throw new AwsSignatureError(
      "the request's signature does not match the placeholder key: it was changed after signing, or signed with another secret",
    );
  }
  const now = options.now ?? new Date();
  const resigning: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed)) {
    if (!SIGNER_HEADERS.has(name)) resigning[name] = value;
  }
  const signableHeaders = new Set(Object.keys(resigning));
  if (real.sessionToken !== undefined) signableHeaders.add("x-amz-security-token");
  const ours = await (await signer(real, scope)).sign(
    { ...base, headers: resigning },
    { signingDate: now, signableHeaders },
  );
  const ourSignature = parseAuthorization(String(ours.headers["authorization"]))!.signature;
  const headers = request.headers.filter(([n]) => !SIGNER_HEADERS.has(n.toLowerCase()));
  for (const name of SIGNER_HEADERS) {
    const value = ours.headers[name];
    if (typeof value === "string") {
      headers.push([name === "authorization" ? "Authorization" : name, value]);
    }
  }
  let body = request.body;
  if (payloadHash === STREAMING_SIGNED) {
    body = await resignChunks(request, {
      agent: { keys: placeholder, at: signedAt, seed: auth.signature, scope },
      ours: { keys: real, at: now, seed: ourSignature, scope },
      sign: async (keys, text, at) => (await signer(keys, scope)).sign(text, { signingDate: at }),
    });
  } else if (
    payloadHash?.startsWith("STREAMING-") && payloadHash !== "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
  ) {
    // Signed trailers and SigV4a chunks are signed with keys the gateway would have to carry
    // through to the last byte; none of the AWS CLI's or SDKs' defaults over HTTPS use them.
    throw new AwsSignatureError(`payload signing '${payloadHash}' is not supported by the gateway`);
  }
  return { headers, body };
}

/**
 * The EKS bearer token for `cluster`: `k8s-aws-v1.` and the base64url of an STS
 * `GetCallerIdentity` URL presigned with `keys`, its signature covering `x-k8s-aws-id`
 * (as aws-iam-authenticator and `aws eks get-token` make it).
 */
export async function eksToken(
  keys: AwsKeys,
  { cluster, region, now = new Date() }: { cluster: string; region: string; now?: Date },
): Promise<string> {
  const hostname = `sts.${region}.amazonaws.com`;
  const presigned = await (await signer(keys, { region, service: "sts" })).presign({
    method: "GET",
    protocol: "https:",
    hostname,
    path: "/",
    query: { Action: "GetCallerIdentity", Version: "2011-06-15" },
    headers: { host: hostname, "x-k8s-aws-id": cluster },
  }, { expiresIn: 60, signingDate: now });
  const query = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .join("&");
  const url = `https://${hostname}/?${query}`;
  return `k8s-aws-v1.${btoa(url).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "")}`;
}

/**
 * The signed form of the gateway's own STS call: `AssumeRole` for `roleArn`, signed with
 * `keys`; POST it to `https://<host>/`.
 */
export async function assumeRoleRequest(
  keys: AwsKeys,
  { host, region, roleArn, sessionName, now = new Date() }: {
    host: string;
    region: string;
    roleArn: string;
    sessionName: string;
    now?: Date;
  },
): Promise<{ headers: Record<string, string>; body: string }> {
  const body = new URLSearchParams({
    Action: "AssumeRole",
    Version: "2011-06-15",
    RoleArn: roleArn,
    RoleSessionName: sessionName,
    DurationSeconds: "3600",
  }).toString();
  const signed = await (await signer(keys, { region, service: "sts" })).sign({
    method: "POST",
    protocol: "https:",
    hostname: host,
    path: "/",
    query: {},
    headers: { host, "content-type": "application/x-www-form-urlencoded; charset=utf-8" },
    body,
  }, { signingDate: now });
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(signed.headers)) headers[name] = String(value);
  return { headers, body };
}

/**
 * The signing library, imported on first use: a gateway without AWS credentials never pays for
 * it (~9 MB of RSS measured).
 */
let signatureV4: Promise<typeof import("@smithy/signature-v4")> | undefined;

async function signer(
  keys: AwsKeys,
  scope: { region: string; service: string },
): Promise<SignatureV4> {
  const { SignatureV4 } = await (signatureV4 ??= import("@smithy/signature-v4"));
  return new SignatureV4({
    credentials: {
      accessKeyId: keys.accessKeyId,
      secretAccessKey: keys.secretAccessKey,
      ...(keys.sessionToken === undefined ? {} : { sessionToken: keys.sessionToken }),
    },
    region: scope.region,
    service: scope.service,
    sha256: Sha256,
    // S3 signs the path as sent; every other service signs it escaped once more.
    uriEscapePath: scope.service !== "s3",
    applyChecksum: false,
  });
}

/** Lower-case name → value, repeated headers joined with "," as SigV4 canonicalises them. */
function headerMap(headers: [string, string][]): Map<string, string> {
  const map = new Map<string, string>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const known = map.get(key);
    map.set(key, known === undefined ? value : `${known},${value}`);
  }
  return map;
}

/** The path as sent and the query decoded (SigV4 encodes each key and value again). */
function splitTarget(target: string): { path: string; query: Record<string, string | string[]> } {
  const at = target.indexOf("?");
  const path = at < 0 ? target : target.slice(0, at);
  const query: Record<string, string | string[]> = {};
  if (at < 0) return { path, query };
  for (const pair of target.slice(at + 1).split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const key = decode(eq < 0 ? pair : pair.slice(0, eq));
    const value = eq < 0 ? "" : decode(pair.slice(eq + 1));
    const known = query[key];
    query[key] = known === undefined ? value : [...(Array.isArray(known) ? known : [known]), value];
  }
  return { path, query };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new AwsSignatureError("the request's query is not validly %-encoded");
  }
}

/** `20150830T123600Z` → its time, or `null`. */
function parseAmzDate(value: string | undefined): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value ?? "");
  if (!m) return null;
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

function formatShortDate(date: Date): string {
  return date.toISOString().slice(0, 10).replace(/-/g, "");
}

/** Compares two hex signatures without an early exit. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
