/**
 * Server-side TLS towards agents with gateway-minted leaves: the forward proxy's intercepted
 * tunnels and the Kubernetes listeners terminate TLS the same way, and every protocol (PostgreSQL
 * too) builds one SecureContext per leaf rather than per connection.
 *
 * @module
 */

import type { Socket } from "node:net";
import tls from "node:tls";
import { withoutBufferedBytes } from "./_agent_socket.ts";
import type { Accepted } from "../core/mod.ts";

/**
 * SecureContexts by leaf: building one parses the key and certificate, so it happens once per
 * minted leaf, not once per connection. Leaves are keys, so a re-minted leaf gets a new context
 * and an unused one is collected with its leaf.
 */
export class ServerContexts {
  readonly #byLeaf = new WeakMap<object, tls.SecureContext>();

  /** The context for `leaf`, built on first use. */
  for(leaf: { certPem: string; keyPem: string }): tls.SecureContext {
    let context = this.#byLeaf.get(leaf);
    if (!context) {
      context = tls.createSecureContext({ cert: leaf.certPem, key: leaf.keyPem });
      this.#byLeaf.set(leaf, context);
    }
    return context;
  }
}

/**
 * What the gateway speaks inside the TLS it terminates here: HTTP/1.1 only. Selecting it by ALPN
 * (RFC 7301) tells a client that offers h2 first to fall back, instead of leaving it to guess
 * from a handshake that named no protocol. Not used for PostgreSQL: libpq 17's direct SSL
 * negotiation requires ALPN "postgresql", and its SSLRequest path needs none.
 */
const ALPN_PROTOCOLS = ["http/1.1"];

/**
 * Runs the server side of an HTTP/1.1 TLS handshake on `socket` (ALPN `http/1.1`), within
 * `timeoutMs`.
 */
export function acceptTls(
  socket: Socket,
  context: tls.SecureContext,
  timeoutMs: number,
): Promise<Accepted> {
  const secure = new tls.TLSSocket(withoutBufferedBytes(socket), {
    isServer: true,
    secureContext: context,
    ALPNProtocols: ALPN_PROTOCOLS,
  });
  // Whoever reads the secure socket next reports its errors; until then none may go unheard.
  secure.on("error", () => {});
  return new Promise((resolve) => {
    const settle = (result: Accepted) => {
      clearTimeout(timer);
      secure.off("secure", onSecure);
      secure.off("error", onError);
      secure.off("close", onClose);
      if (result.kind !== "secure") secure.destroy();
      resolve(result);
    };
    const onSecure = () => settle({ kind: "secure", socket: secure });
    const onError = (err: Error) =>
      settle({
        kind: "failed",
        reason: `TLS handshake with the agent failed: ${err.message.slice(0, 200)}`,
      });
    const onClose = () => settle({ kind: "closed" });
    const timer = setTimeout(
      () =>
        settle({ kind: "failed", reason: "TLS handshake with the agent not completed in time" }),
      timeoutMs,
    );
    secure.once("secure", onSecure);
    secure.once("error", onError);
    secure.once("close", onClose);
  });
}
