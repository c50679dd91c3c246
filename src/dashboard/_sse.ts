/**
 * The live feed as Server-Sent Events: receipts after the one the page showed last (or the
 * browser's `Last-Event-ID` on a reconnect), then each new one as the store commits it, and an
 * `approvals` event whenever the approval queue changes.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import type { QueueEvent } from "../approvals/mod.ts";
import type { ReceiptFeed, ReceiptQuery } from "./_feed.ts";
import { type FeedFilter, feedRow, matchesFilter } from "./_feed_page.ts";
import { securityHeaders } from "./_respond.ts";

/** Receipts sent on connect, at most: a page that was away long reloads instead. */
const BACKLOG = 200;
/** A comment line this often keeps proxies and idle timeouts from closing the stream. */
const KEEPALIVE_MS = 15_000;

/** What a stream reads from. */
export interface StreamSources {
  feed: ReceiptFeed;
  receipts: ReceiptQuery;
  approvals: { subscribe(listener: (event: QueueEvent) => void): () => void; list(): unknown[] };
}

/** Open streams, so the gateway's stop can end them (a server waits for open responses). */
export class OpenStreams {
  readonly #closers = new Set<() => void>();
  add(close: () => void): () => void {
    this.#closers.add(close);
    return () => this.#closers.delete(close);
  }
  closeAll(): void {
    for (const close of [...this.#closers]) close();
  }
}

/** The SSE response for one viewer. */
export function feedStream(
  sources: StreamSources,
  open: OpenStreams,
  filter: FeedFilter,
  after: number,
): Response {
  const encoder = new TextEncoder();
  let cleanup = () => {};
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let sent = after;
      let closed = false;
      const write = (text: string) => {
        if (!closed) controller.enqueue(encoder.encode(text));
      };
      const send = (receipts: Receipt[]) => {
        for (const r of receipts) {
          if (r.seq <= sent) continue;
          sent = r.seq;
          if (!matchesFilter(r, filter)) continue;
          write(`id: ${r.seq}\nevent: receipt\ndata: ${JSON.stringify(feedRow(r))}\n\n`);
        }
      };
      // Subscribed before the backlog is read, so nothing committed in between is missed.
      const unfeed = sources.feed.subscribe(send);
      const unqueue = sources.approvals.subscribe(() => {
        write(
          `event: approvals\ndata: ${
            JSON.stringify({ count: sources.approvals.list().length })
          }\n\n`,
        );
      });
      const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
      const unregister = open.add(() => {
        cleanup();
        try {
          controller.close();
        } catch {
          // Already closed by the browser.
        }
      });
      cleanup = () => {
        closed = true;
        unfeed();
        unqueue();
        clearInterval(keepalive);
        unregister();
      };
      // The held requests as of now: a page rendered before this stream opened compares them
      // with its own, so a change in between (a decision right after a reload) is not missed.
      write(
        `retry: 1000\nevent: ready\ndata: ${JSON.stringify({ approvals: heldIds(sources) })}\n\n`,
      );
      send(sources.receipts({ afterSeq: after, limit: BACKLOG }));
    },
    cancel() {
      cleanup();
    },
  });
  return new Response(body, {
    headers: securityHeaders({ "content-type": "text/event-stream; charset=utf-8" }),
  });
}

/** The ids of the requests held now, in the queue's order. */
function heldIds(sources: StreamSources): string[] {
  return sources.approvals.list().map((p) => {
    const id = (p as { request?: { id?: unknown } }).request?.id;
    return typeof id === "string" ? id : "";
  });
}

/** Where a stream starts: the browser's `Last-Event-ID`, else `?after=`, else now. */
export function streamStart(req: Request, url: URL, latest: () => number): number {
  for (const raw of [req.headers.get("last-event-id"), url.searchParams.get("after")]) {
    if (raw !== null && /^\d{1,15}$/.test(raw)) return Number(raw);
  }
  return latest();
}
