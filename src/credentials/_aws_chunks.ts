/**
 * S3's signed-chunk uploads (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD`): the body is framed as
 * `hex-size;chunk-signature=SIG\r\n DATA \r\n`, each signature chained from the previous one,
 * the first from the request's own signature (S3 API reference, "Signature Calculations for
 * the Authorization Header: Transferring Payload in Multiple Chunks"). Each agent signature is
 * checked with the placeholder key and replaced by one made with the real key; a signature is
 * 64 hex characters either way, so the body keeps its length and framing.
 *
 * @module
 */

import { sha256Hex } from "./_sha256.ts";
import type { AwsKeys, SignedRequest } from "./aws_sigv4.ts";
import { AwsSignatureError } from "./_aws_error.ts";

/** The `X-Amz-Content-SHA256` of a signed-chunk body. */
export const STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";

const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** One side of a chunk chain: its key, signing time, seed signature and scope. */
export interface ChunkChain {
  keys: AwsKeys;
  at: Date;
  seed: string;
  scope: { region: string; service: string };
}

/** Chains to verify (the agent's) and to produce (the gateway's), and the string signer. */
export interface ResignChunksOptions {
  agent: ChunkChain;
  ours: ChunkChain;
  sign(keys: AwsKeys, stringToSign: string, at: Date): Promise<string>;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * The body with every chunk signature verified against the agent's chain and replaced by the
 * gateway's.
 *
 * @throws {AwsSignatureError} when the body is cut off at the buffer, malformed, or a chunk
 * signature does not match the placeholder key.
 */
export async function resignChunks(
  request: Pick<SignedRequest, "body" | "bodyTruncated">,
  { agent, ours, sign }: ResignChunksOptions,
): Promise<Uint8Array> {
  if (request.bodyTruncated) {
    throw new AwsSignatureError(
      `a ${STREAMING_SIGNED} upload larger than limits.body_buffer cannot be re-signed: raise the limit or upload with UNSIGNED-PAYLOAD`,
    );
  }
  const body = request.body;
  const out = new Uint8Array(body);
  let prevAgent = agent.seed;
  let prevOurs = ours.seed;
  let at = 0;
  for (;;) {
    const lineEnd = indexOfCrlf(body, at);
    if (lineEnd < 0) throw malformed();
    const line = decoder.decode(body.subarray(at, lineEnd));
    const m = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/.exec(line);
    if (!m) throw malformed();
    const size = parseInt(m[1], 16);
    const dataStart = lineEnd + 2;
    const dataEnd = dataStart + size;
    if (dataEnd + 2 > body.length || body[dataEnd] !== 13 || body[dataEnd + 1] !== 10) {
      throw malformed();
    }
    const dataHash = sha256Hex(body.subarray(dataStart, dataEnd));
    const theirs = await sign(agent.keys, stringToSign(agent, prevAgent, dataHash), agent.at);
    if (theirs !== m[2]) {
      throw new AwsSignatureError(
        "a chunk signature does not match the placeholder key: the upload was changed after signing",
      );
    }
    const mine = await sign(ours.keys, stringToSign(ours, prevOurs, dataHash), ours.at);
    // The signature is the line's last 64 characters, all ASCII.
    out.set(encoder.encode(mine), lineEnd - 64);
    prevAgent = theirs;
    prevOurs = mine;
    at = dataEnd + 2;
    if (size === 0) break;
  }
  if (at !== body.length) throw malformed();
  return out;
}

function stringToSign(chain: ChunkChain, previous: string, dataHash: string): string {
  const longDate = chain.at.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const scope = `${longDate.slice(0, 8)}/${chain.scope.region}/${chain.scope.service}/aws4_request`;
  return [
    "AWS4-HMAC-SHA256-PAYLOAD",
    longDate,
    scope,
    previous,
    EMPTY_SHA256,
    dataHash,
  ].join("\n");
}

function indexOfCrlf(bytes: Uint8Array, from: number): number {
  for (let i = from; i + 1 < bytes.length; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10) return i;
  }
  return -1;
}

function malformed(): AwsSignatureError {
  return new AwsSignatureError(`the ${STREAMING_SIGNED} body is not validly chunked`);
}
