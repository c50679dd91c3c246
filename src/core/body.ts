/**
 * Bounded body reading for what the gateway receives outside the proxied protocols (admin API
 * decisions, webhook replies and callbacks, Slack interactivity requests): an oversized body is
 * refused without being held in memory.
 *
 * @module
 */

import { concatBytes } from "./bytes.ts";

/**
 * Reads a body of at most `limit` bytes; `null` when it is larger (reading stops there, so an
 * oversized body costs at most `limit` bytes of memory).
 */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array | null> {
  if (!body) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        return null;
      }
      chunks.push(value);
    }
  } finally {
    reader.releaseLock();
  }
  return concatBytes(chunks);
}
