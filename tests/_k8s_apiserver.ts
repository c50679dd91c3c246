/**
 * A fake Kubernetes API server that the real kubectl (1.32) talks to: HTTPS on a random loopback
 * port with a certificate from a fresh test CA, bearer-token auth (and optionally client
 * certificates), discovery, an in-memory object store (tests/_k8s_objects.ts), logs, watches and
 * exec over a WebSocket (tests/_k8s_exec.ts). It records every request that reaches it, so a
 * test with a gateway in front can assert what got through and with which credentials.
 *
 * It serves HTTP/1.1 only (node:https; ALPN picks http/1.1 even when a client offers h2), the
 * protocol a gateway forwards with. Every stream ends by itself: `logs -f` after ~300 ms, a
 * watch after ~500 ms, exec when the command is done, so no test waits on a hanging client.
 *
 * Seed objects: namespaces default, prod, scratch, kube-system; pods web-1, web-2 (default),
 * api-1 (prod), p (scratch), coredns-1 (kube-system); secrets db-password (default), api-key
 * (prod); configmap app-config and service web (default); deployments web (default), api (prod).
 *
 * What kubectl 1.32 needs, and gets: it asks for aggregated discovery first and accepts the
 * legacy documents in plain application/json instead (tests/_k8s_discovery.ts); `get` asks for
 * `as=Table` and gets one (a plain list would print NAME and AGE only); `/openapi/v2` and `/v3`
 * are 404, so `apply` and `create -f` need `--validate=false`; `create namespace|secret|…`
 * POSTs protobuf, decoded by tests/_k8s_protobuf.ts; `get -w` exits 0 when the watch ends;
 * `exec` uses a WebSocket with v5.channel.k8s.io (SPDY, its fallback, is refused); with
 * `exec: "spdy"` it is the other way round, as on an API server before 1.30 (tests/_k8s_spdy.ts).
 *
 * @example
 * ```ts
 * import { startFakeApiServer } from "./_k8s_apiserver.ts";
 *
 * const api = await startFakeApiServer();
 * try {
 *   // kubeconfig: server api.url, certificate-authority-data btoa(api.caPem), token api.token
 *   console.log(api.requests.map((r) => `${r.method} ${r.path}`));
 * } finally {
 *   await api.close();
 * }
 * ```
 *
 * @module
 */

import https from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import { concatBytes } from "../src/core/mod.ts";
import { rejectUpgrade, serveExec } from "./_k8s_exec.ts";
import { serveSpdyExec } from "./_k8s_spdy.ts";
import { info, notFound, ObjectStore, status } from "./_k8s_objects.ts";
import { type Context, handle, send } from "./_k8s_routes.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

/** One request as it reached the fake API server (upgrades included). */
export interface FakeApiRequest {
  method: string;
  /** The path as sent, without the query. */
  path: string;
  /** The raw query without `?`, `""` when none. */
  query: string;
  /** The `Authorization` header, or null. */
  authorization: string | null;
  /** Lowercase names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** The request body as UTF-8 text (`""` for none; lossy for protobuf bodies). */
  body: string;
  /** CN of a client certificate that verified against `clientCaPem`, else null. */
  clientCommonName: string | null;
}

/** A running fake API server, from {@linkcode startFakeApiServer}. */
export interface FakeApiServer {
  /** `https://127.0.0.1:PORT` */
  url: string;
  /** The CA that signed the server certificate (SANs: IP 127.0.0.1, DNS localhost). */
  caPem: string;
  /** The bearer token it accepts. */
  token: string;
  /** Every request that reached it, in arrival order; the array is appended to, never replaced. */
  requests: FakeApiRequest[];
  /** The objects it serves; tests may read or change them directly. */
  store: ObjectStore;
  /** Stops listening and cuts every open connection and stream. Idempotent. */
  close(): Promise<void>;
}

/** Options for {@linkcode startFakeApiServer}. */
export interface FakeApiServerOptions {
  /** The bearer token to require. @default {a random token} */
  token?: string;
  /**
   * A CA whose client certificates also authenticate (like the real server's
   * `--client-ca-file`): such a request needs no token.
   */
  clientCaPem?: string;
  /**
   * The exec transport served; the other is refused with 400 (kubectl falls back from a refused
   * WebSocket to SPDY). @default {"websocket"}
   */
  exec?: "websocket" | "spdy";
  /** Names and IPs in its certificate. @default {["127.0.0.1", "localhost"]} */
  hosts?: string[];
  /**
   * Decides whether an `Authorization` header (`null`: none) authenticates, instead of
   * comparing it with `token` (as an API server's webhook authenticator would, e.g. EKS's).
   */
  authenticate?: (authorization: string | null) => boolean | Promise<boolean>;
}

const MAX_BODY = 4 << 20;

/**
 * Starts the fake API server on a random loopback port with fresh seed objects.
 *
 * @example
 * ```ts
 * const api = await startFakeApiServer({ token: "t0ken" });
 * await api.close();
 * ```
 */
export async function startFakeApiServer(
  options: FakeApiServerOptions = {},
): Promise<FakeApiServer> {
  const ca = await mintTestCa("clawpatrol fake Kubernetes API CA");
  const leaf = await mintTestCertificate(ca, {
    hosts: options.hosts ?? ["127.0.0.1", "localhost"],
  });
  const token = options.token ?? `fake-${crypto.randomUUID()}`;
  const store = new ObjectStore();
  const requests: FakeApiRequest[] = [];
  const sockets = new Set<Duplex>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const later = (fn: () => void, ms: number) => {
    const id = setTimeout(() => {
      timers.delete(id);
      fn();
    }, ms);
    timers.add(id);
  };

  const server = https.createServer({
    cert: leaf.certPem,
    key: leaf.keyPem,
    ...(options.clientCaPem
      ? { ca: options.clientCaPem, requestCert: true, rejectUnauthorized: false }
      : {}),
  });
  let address = "";

  /** Records the request; true when it carries the token or a verified client certificate. */
  const admit = (req: IncomingMessage, body: string): boolean | Promise<boolean> => {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(", ") : v;
    }
    const target = req.url ?? "/";
    const q = target.indexOf("?");
    const tls = req.socket as TLSSocket;
    const cn = options.clientCaPem && tls.authorized ? tls.getPeerCertificate()?.subject?.CN : null;
    requests.push({
      method: req.method ?? "GET",
      path: q < 0 ? target : target.slice(0, q),
      query: q < 0 ? "" : target.slice(q + 1),
      authorization: headers.authorization ?? null,
      headers,
      body,
      clientCommonName: typeof cn === "string" ? cn : null,
    });
    if (typeof cn === "string") return true;
    return options.authenticate
      ? options.authenticate(headers.authorization ?? null)
      : headers.authorization === `Bearer ${token}`;
  };

  server.on("request", async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const raw = await readBody(req);
      const body = new TextDecoder().decode(raw);
      if (!await admit(req, body)) return send(res, status(401, "Unauthorized", "Unauthorized"));
      const ctx: Context = { req, res, body, raw, store, later, address };
      handle(ctx);
    } catch (err) {
      if (!res.headersSent) send(res, status(500, "InternalError", String(err)));
      else res.destroy();
    }
  });

  server.on("upgrade", async (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const admitted = admit(req, "");
    if (!(typeof admitted === "boolean" ? admitted : await admitted)) {
      return rejectUpgrade(socket, status(401, "Unauthorized", "Unauthorized"));
    }
    const url = new URL(req.url ?? "/", "https://fake");
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!m) {
      return rejectUpgrade(
        socket,
        status(
          400,
          "BadRequest",
          `Upgrade is only served for pods/exec (WebSocket), not '${url.pathname}'`,
        ),
      );
    }
    const [ns, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
    if (!store.get(info("pods"), ns, name)) return rejectUpgrade(socket, notFound("pods", name));
    // The transport not served, and a WebSocket without a channel protocol, are refused plainly.
    const spdy = options.exec === "spdy";
    const serve = spdy ? serveSpdyExec : serveExec;
    if (!serve(req.headers, url.searchParams, socket, head)) {
      rejectUpgrade(
        socket,
        status(
          400,
          "BadRequest",
          spdy
            ? "Only SPDY/3.1 exec with v4.channel.k8s.io"
            : "Only WebSocket exec with v5.channel.k8s.io or v4.channel.k8s.io",
        ),
      );
    }
  });
  server.on("connection", (socket: Duplex) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  address = `127.0.0.1:${port}`;

  let closed: Promise<void> | undefined;
  return {
    url: `https://${address}`,
    caPem: ca.certPem,
    token,
    requests,
    store,
    close: () =>
      closed ??= new Promise<void>((resolve) => {
        for (const id of timers) clearTimeout(id);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const s of sockets) s.destroy();
      }),
  };
}

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Uint8Array).length;
    if (size > MAX_BODY) throw new RangeError(`Request body over ${MAX_BODY} bytes`);
    chunks.push(chunk as Uint8Array);
  }
  return concatBytes(chunks);
}
