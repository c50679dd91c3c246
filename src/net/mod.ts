/**
 * The only sockets towards agents: listening, accepting under caps and backoff, and terminating
 * TLS with gateway-minted leaves. The gateway builds {@linkcode netServices} once and hands it to
 * every protocol (DESIGN.md §2), which sees only `core`'s {@linkcode NetServices} type.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import type { NetServices } from "../core/mod.ts";
import { TcpListener } from "./listener.ts";
import { acceptTls, ServerContexts } from "./tls_accept.ts";
import { relay } from "./relay.ts";

export { TcpListener, type TcpListenerOptions } from "./listener.ts";
export { acceptFailureText } from "./_accept_backoff.ts";
export { AdmissionGate } from "./admission.ts";
export { acceptTls, ServerContexts } from "./tls_accept.ts";
export { endThenDestroy, relay } from "./relay.ts";
export { RestartingHttpServer, type RestartingHttpServerHooks } from "./http_server.ts";
export {
  type DnsDropCause,
  type DnsHandler,
  type DnsPeer,
  DnsServer,
  type DnsServerOptions,
} from "./dns_server.ts";

/**
 * The network for the protocols: one TLS context cache shared by every listener.
 *
 * @example
 * ```ts
 * const net = netServices();
 * const listener = await net.listen("127.0.0.1", 0, { serve, onError: console.error });
 * await listener.close();
 * ```
 */
export function netServices(): NetServices {
  const contexts = new ServerContexts();
  return {
    listen: (host, port, options) => TcpListener.open(host, port, options),
    secureContext: (leaf) => contexts.for(leaf),
    acceptTls,
    relay,
    connect: (host, port) => net.connect({ host, port }),
    dial: (hostname, port) => Deno.connect({ hostname, port }),
    dialTls: (options) => Deno.connectTls(options as Parameters<typeof Deno.connectTls>[0]),
    startTls: (conn, options) => Deno.startTls(conn, options),
    secureClient: (socket, options) => tls.connect({ ...options, socket }),
    secureServer: (socket, context) =>
      new tls.TLSSocket(socket, { isServer: true, secureContext: context }),
  };
}
