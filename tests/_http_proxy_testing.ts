/**
 * Shared by the forward proxy tests over raw sockets.
 *
 * @module
 */

import type { ProxyFixture } from "./_proxy_fixture.ts";
import type { RawConn } from "./_raw_http.ts";

/** The response header naming the receipt. */
export const RECEIPT = "x-clawpatrol-receipt";

/** Receipts by id. */
export async function receiptsById(fx: ProxyFixture) {
  return new Map((await fx.receipts()).map((r) => [r.id, r]));
}

/** Closes `conn` after `fn`, whatever happens. */
export async function using<T>(conn: RawConn, fn: (c: RawConn) => Promise<T>): Promise<T> {
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
