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
 * kubectl notes: legacy discovery in plain application/json is accepted in place of the
 * aggregated document it asks for first; `get` asks for `as=Table`, which is honoured (a plain
 * list would print NAME/AGE only); `/openapi/v2` and `/openapi/v3` are 404, so `kubectl apply`
 * needs `--validate=false`.
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
import { rejectUpgrade, serveExec } from "./_k8s_exec.ts";
import {
  discovery,
  info,
  type KubeObject,
  matchesSelectors,
  mergePatch,
  notFound,
  ObjectStore,
  type ResourceInfo,
  RESOURCES,
  status,
  toTable,
} from "./_k8s_objects.ts";
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
  /** The request body as text (`""` for none). */
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
}

const MAX_BODY = 4 << 20;
const LOG_LINE_MS = 100;
const WATCH_EVENT_MS = 100;
const WATCH_END_MS = 500;

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
  const leaf = await mintTestCertificate(ca, { hosts: ["127.0.0.1", "localhost"] });
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
  const admit = (req: IncomingMessage, body: string): boolean => {
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
    return headers.authorization === `Bearer ${token}` || typeof cn === "string";
  };

  server.on("request", async (req: IncomingMessage, res: ServerResponse) => {
    try {
      const body = await readBody(req);
      if (!admit(req, body)) return send(res, status(401, "Unauthorized", "Unauthorized"));
      const ctx = { req, res, body, store, later, address };
      handle(ctx);
    } catch (err) {
      if (!res.headersSent) send(res, status(500, "InternalError", String(err)));
      else res.destroy();
    }
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Uint8Array) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    if (!admit(req, "")) return rejectUpgrade(socket, status(401, "Unauthorized", "Unauthorized"));
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
    // SPDY (kubectl's fallback) and WebSocket without a channel protocol are refused plainly.
    if (!serveExec(req.headers, url.searchParams, socket, head)) {
      rejectUpgrade(
        socket,
        status(
          400,
          "BadRequest",
          "Only WebSocket exec with v5.channel.k8s.io or v4.channel.k8s.io",
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

interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  body: string;
  store: ObjectStore;
  later: (fn: () => void, ms: number) => void;
  address: string;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const decoder = new TextDecoder();
  let text = "";
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Uint8Array).length;
    if (size > MAX_BODY) throw new RangeError(`Request body over ${MAX_BODY} bytes`);
    text += decoder.decode(chunk as Uint8Array, { stream: true });
  }
  return text + decoder.decode();
}

function send(
  res: ServerResponse,
  body: KubeObject,
  code = body.kind === "Status" ? body.code : 200,
) {
  const json = JSON.stringify(body);
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": new TextEncoder().encode(json).length,
    "cache-control": "no-cache, private",
  });
  res.end(json);
}

/** Where a resource path points: `/api/v1[/namespaces/NS]/RESOURCE[/NAME[/SUB]]`, apps alike. */
interface Target {
  r: ResourceInfo;
  ns?: string;
  name?: string;
  sub?: string;
}

function parseTarget(path: string): Target | undefined {
  const m = /^\/(?:api\/v1|apis\/(apps)\/v1)\/(.+)$/.exec(path);
  if (!m) return undefined;
  let segs = m[2].split("/").map(decodeURIComponent);
  let ns: string | undefined;
  if (segs[0] === "namespaces" && segs.length >= 3) {
    ns = segs[1];
    segs = segs.slice(2);
  }
  const [resource, name, sub, ...rest] = segs;
  const r = RESOURCES.find((x) => x.resource === resource && x.group === (m[1] ?? ""));
  if (!r || rest.length > 0 || name === "" || (ns !== undefined && !r.namespaced)) return undefined;
  if (r.namespaced && ns === undefined && name !== undefined) return undefined;
  return { r, ns, name, sub };
}

function handle(ctx: Context): void {
  const { req, res } = ctx;
  const url = new URL(req.url ?? "/", "https://fake");
  const doc = req.method === "GET" ? discovery(url.pathname, ctx.address) : undefined;
  if (doc) return send(res, doc);
  if (["/healthz", "/livez", "/readyz"].includes(url.pathname)) {
    res.writeHead(200, { "content-type": "text/plain" });
    return void res.end("ok");
  }
  const t = parseTarget(url.pathname);
  if (!t) {
    return send(res, status(404, "NotFound", "the server could not find the requested resource"));
  }
  const { r, ns, name, sub } = t;
  const params = url.searchParams;
  const table = (req.headers.accept ?? "").includes("as=Table");
  if (
    ns !== undefined && !ctx.store.get(info("namespaces"), undefined, ns) && req.method !== "GET"
  ) {
    return send(res, notFound("namespaces", ns));
  }

  if (name === undefined) {
    if (req.method === "GET" && ["true", "1"].includes(params.get("watch") ?? "")) {
      return watch(ctx, r, ns, params, table);
    }
    if (req.method === "GET") {
      const items = ctx.store.list(r, ns).filter((o) => matchesSelectors(o, params));
      if (table) return send(res, toTable(r, items, ctx.store));
      return send(res, {
        kind: `${r.kind}List`,
        apiVersion: items[0]?.apiVersion ?? (r.group ? `${r.group}/v1` : "v1"),
        metadata: { resourceVersion: ctx.store.resourceVersion },
        items,
      });
    }
    if (req.method === "POST") return create(ctx, r, ns, params);
    return send(
      res,
      status(405, "MethodNotAllowed", `${req.method} is not supported on ${r.resource}`),
    );
  }

  const obj = ctx.store.get(r, ns, name);
  if (!obj) return send(res, notFound(r.resource, name));
  if (sub === "log" && r.resource === "pods" && req.method === "GET") return logs(ctx, obj, params);
  if (["exec", "attach", "portforward"].includes(sub ?? "")) {
    return send(res, status(400, "BadRequest", "Upgrade request required"));
  }
  if (sub === "scale" && r.resource === "deployments") return scale(ctx, r, obj);
  if (sub !== undefined && sub !== "status") {
    return send(res, status(404, "NotFound", "the server could not find the requested resource"));
  }
  switch (req.method) {
    case "GET":
      return send(res, table ? toTable(r, [obj], ctx.store) : obj);
    case "DELETE":
      return send(res, ctx.store.delete(r, ns, name)!);
    case "PUT":
    case "PATCH": {
      const type = req.headers["content-type"] ?? "";
      if (req.method === "PATCH" && !/merge-patch\+json/.test(type)) {
        return send(
          res,
          status(415, "UnsupportedMediaType", `Patch type '${type}' is not supported`),
        );
      }
      const input = parseJson(ctx.body);
      if (!input) {
        return send(res, status(400, "BadRequest", "The request body is not a JSON object"));
      }
      const next = (req.method === "PUT" ? input : mergePatch(obj, input)) as KubeObject;
      next.metadata = { ...obj.metadata, ...next.metadata, name, uid: obj.metadata.uid };
      return send(res, ctx.store.put(r, ns, next));
    }
  }
  send(
    res,
    status(405, "MethodNotAllowed", `${req.method} is not supported on ${r.resource}/${name}`),
  );
}

function parseJson(text: string): KubeObject | undefined {
  try {
    const value = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function create(ctx: Context, r: ResourceInfo, ns: string | undefined, params: URLSearchParams) {
  const body = parseJson(ctx.body);
  if (!body) {
    return send(ctx.res, status(400, "BadRequest", "The request body is not a JSON object"));
  }
  if (ns !== undefined && body.metadata?.namespace && body.metadata.namespace !== ns) {
    return send(
      ctx.res,
      status(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      ),
    );
  }
  const dryRun = params.get("dryRun") === "All";
  const name = body.metadata?.name;
  if (name && ctx.store.get(r, ns, name)) {
    return send(
      ctx.res,
      status(409, "AlreadyExists", `${r.resource} "${name}" already exists`, {
        name,
        kind: r.resource,
      }),
    );
  }
  const created = dryRun
    ? { ...body, apiVersion: r.group ? `${r.group}/v1` : "v1", kind: r.kind }
    : ctx.store.create(r, ns, body)!;
  send(ctx.res, created, 201);
}

const LOG_LINES = 3;

/** Pod logs as text; `follow` streams one line every 100 ms and then ends. */
function logs(ctx: Context, pod: KubeObject, params: URLSearchParams) {
  const containers: string[] = (pod.spec?.containers ?? []).map((c: KubeObject) => c.name);
  const container = params.get("container") ?? containers[0];
  if (!containers.includes(container)) {
    return send(
      ctx.res,
      status(400, "BadRequest", `container ${container} is not valid for pod ${pod.metadata.name}`),
    );
  }
  let lines = Array.from(
    { length: LOG_LINES },
    (_, i) => `${pod.metadata.name}/${container} log line ${i + 1}\n`,
  );
  const tail = params.get("tailLines");
  if (tail !== null) lines = lines.slice(Math.max(0, lines.length - Number(tail)));
  if (params.get("follow") !== "true") {
    ctx.res.writeHead(200, { "content-type": "text/plain" });
    return void ctx.res.end(lines.join(""));
  }
  ctx.res.writeHead(200, { "content-type": "text/plain", "transfer-encoding": "chunked" });
  const next = (i: number) => {
    if (i >= lines.length) return void ctx.res.end();
    ctx.res.write(lines[i]);
    ctx.later(() => next(i + 1), LOG_LINE_MS);
  };
  next(0);
}

/**
 * A watch: ADDED for objects newer than `resourceVersion` (all, without one), then a MODIFIED
 * per object 100 ms apart, then the stream ends at 500 ms whatever the client asked for.
 */
function watch(
  ctx: Context,
  r: ResourceInfo,
  ns: string | undefined,
  params: URLSearchParams,
  table: boolean,
) {
  const since = Number(params.get("resourceVersion") || "0");
  const matching = () => ctx.store.list(r, ns).filter((o) => matchesSelectors(o, params));
  ctx.res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
  const event = (type: string, obj: KubeObject) =>
    ctx.res.write(
      `${JSON.stringify({ type, object: table ? toTable(r, [obj], ctx.store) : obj })}\n`,
    );
  for (const obj of matching()) {
    if (Number(obj.metadata.resourceVersion) > since) event("ADDED", obj);
  }
  matching().forEach((obj, i) =>
    ctx.later(() => {
      const current = ctx.store.get(r, ns ?? obj.metadata.namespace, obj.metadata.name);
      if (!current || ctx.res.writableEnded) return;
      current.metadata.annotations = { ...current.metadata.annotations, "fake/touched": String(i) };
      event("MODIFIED", ctx.store.put(r, current.metadata.namespace, current));
    }, WATCH_EVENT_MS * (i + 1))
  );
  ctx.later(() => ctx.res.end(), WATCH_END_MS);
}

/** `deployments/NAME/scale` as an autoscaling/v1 Scale; PATCH/PUT set the replicas. */
function scale(ctx: Context, r: ResourceInfo, deploy: KubeObject) {
  const { name, namespace } = deploy.metadata;
  if (ctx.req.method === "PATCH" || ctx.req.method === "PUT") {
    const replicas = parseJson(ctx.body)?.spec?.replicas;
    if (!Number.isInteger(replicas)) {
      return send(ctx.res, status(400, "BadRequest", "spec.replicas must be an integer"));
    }
    deploy.spec.replicas = replicas;
    deploy.status = {
      ...deploy.status,
      replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
    };
    deploy = ctx.store.put(r, namespace, deploy);
  } else if (ctx.req.method !== "GET") {
    return send(
      ctx.res,
      status(405, "MethodNotAllowed", `${ctx.req.method} is not supported on scale`),
    );
  }
  send(ctx.res, {
    kind: "Scale",
    apiVersion: "autoscaling/v1",
    metadata: {
      name,
      namespace,
      uid: deploy.metadata.uid,
      resourceVersion: deploy.metadata.resourceVersion,
    },
    spec: { replicas: deploy.spec.replicas },
    status: { replicas: deploy.spec.replicas, selector: `app=${name}` },
  });
}
