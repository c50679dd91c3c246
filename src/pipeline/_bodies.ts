/**
 * What a receipt keeps of a request body (`gateway.receipts.bodies`): nothing, a sample, or all
 * the gateway buffered. What it leaves out is named in the receipt's `unknown` facts, so a replay
 * of a rule that reads it says "cannot replay" instead of deciding on half a body.
 *
 * @module
 */

import type { Facts } from "../core/mod.ts";

/** What receipts keep of bodies. */
export interface BodyKeeping {
  bodies: "none" | "sample" | "full";
  sampleBytes: number;
}

/** The body facts that carry the body's content. */
const BODY_FACTS = ["http.body", "http.body_json", "http.graphql"];

/**
 * `facts` as a receipt keeps them, and the facts it left out (to add to `unknown`).
 *
 * @example
 * ```ts
 * keepBodies(facts, { bodies: "sample", sampleBytes: 4096 }); // { facts, dropped: [] }
 * ```
 */
export function keepBodies(
  facts: Facts,
  keeping: BodyKeeping,
): { facts: Facts; dropped: string[] } {
  const http = facts.http as Record<string, unknown> | undefined;
  const body = http?.body;
  if (!http || typeof body !== "string" || body === "" || keeping.bodies === "full") {
    return { facts, dropped: [] };
  }
  if (keeping.bodies === "sample" && body.length <= keeping.sampleBytes) {
    return { facts, dropped: [] };
  }
  const kept = keeping.bodies === "none" ? "" : sample(body, keeping.sampleBytes);
  const trimmed = { ...http, body: kept, body_json: null, graphql: null };
  return { facts: { ...facts, http: trimmed } as unknown as Facts, dropped: BODY_FACTS };
}

/** The first `bytes` UTF-8 bytes of `text`, cut at a character boundary. */
function sample(text: string, bytes: number): string {
  const encoded = new TextEncoder().encode(text);
  if (encoded.length <= bytes) return text;
  return new TextDecoder().decode(encoded.subarray(0, bytes)).replace(/\uFFFD$/, "");
}
