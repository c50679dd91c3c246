/**
 * The benches' upstream: a minimal HTTP/1.1 responder on node:tls that frames requests by
 * Content-Length and answers each with bytes the caller chooses.
 *
 * Not Deno.serve: its TLS sockets keep Nagle on, so a response written just after TLS 1.3
 * session tickets waits ~40 ms for a delayed ACK. That would punish every path that opens fresh
 * upstream connections (direct, mitmproxy) but not the gateway, which pools them. It is also
 * cheaper per request, so the upstream takes less of the two cores from what is measured.
 *
 * @module
 */

import tls from "node:tls";
import { concatBytes } from "../src/core/mod.ts";

const dec = new TextDecoder();

/** One request as the responder saw it. */
export interface RespondedRequest {
  /** The request head (request line and headers, no final CRLF CRLF). */
  head: string;
  /** Origin-form target from the request line. */
  target: string;
  /** Body length (bytes, from Content-Length). */
  length: number;
}

/** Listens on 127.0.0.1 (any port) and answers every request with `answer(request)`. */
export async function startResponder(
  certPem: string,
  keyPem: string,
  answer: (request: RespondedRequest) => Uint8Array,
): Promise<tls.Server> {
  const server = tls.createServer({ cert: certPem, key: keyPem }, (socket) => {
    socket.setNoDelay(true);
    let pending = new Uint8Array(0);
    socket.on("data", (chunk: Uint8Array) => {
      pending = concatBytes([pending, chunk]);
      for (;;) {
        const text = dec.decode(pending.subarray(0, Math.min(pending.length, 16384)));
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = text.slice(0, end);
        const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        pending = pending.subarray(end + 4 + length);
        const target = head.slice(head.indexOf(" ") + 1, head.indexOf(" HTTP/"));
        socket.write(answer({ head, target, length }));
      }
    });
    socket.on("error", () => socket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return server;
}

/** The value of the request's Authorization header, if it sent one. */
export function authorizationOf(head: string): string | undefined {
  return /\r\nauthorization:[ \t]*([^\r]*)/i.exec(head)?.[1];
}
