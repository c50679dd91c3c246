/**
 * Request handling for the fake API server (tests/_k8s_apiserver.ts) once a request is
 * authenticated: discovery, list/get/create/update/patch/delete on the object store, Table
 * output, pod logs, watches and deployment scale. Streams end by themselves (logs -f after
 * ~300 ms, watches after 500 ms) so a client under test can never hang on them.
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { discovery } from "./_k8s_discovery.ts";
import {
  apiVersionOf,
  info,
  type KubeObject,
  matchesSelectors,
  mergePatch,
  notFound,
  type ObjectStore,
  type ResourceInfo,
  RESOURCES,
  status,
  toTable,
} from "./_k8s_objects.ts";
import { decodeProtobufObject } from "./_k8s_protobuf.ts";

const LOG_LINE_MS = 100;
const WATCH_EVENT_MS = 100;
const WATCH_END_MS = 500;

/** One authenticated request and what it may touch. */
export interface Context {
  req: IncomingMessage;
  res: ServerResponse;
  body: string;
  raw: Uint8Array;
  store: ObjectStore;
  later: (fn: () => void, ms: number) => void;
  address: string;
}

/** Sends a JSON body; a `Status` carries its own code. */
export function send(
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

/** Answers an authenticated request. */
export function handle(ctx: Context): void {
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
      if (table) return send(res, toTable(r, items, ctx.store.resourceVersion));
      return send(res, {
        kind: `${r.kind}List`,
        apiVersion: items[0]?.apiVersion ?? apiVersionOf(r),
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
      return send(res, table ? toTable(r, [obj], ctx.store.resourceVersion) : obj);
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
  let body: KubeObject | undefined;
  try {
    body = /protobuf/.test(ctx.req.headers["content-type"] ?? "")
      ? decodeProtobufObject(ctx.raw)
      : parseJson(ctx.body);
  } catch (err) {
    return send(ctx.res, status(400, "BadRequest", (err as Error).message));
  }
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
    ? { ...body, apiVersion: apiVersionOf(r), kind: r.kind }
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
    if (ctx.res.destroyed) return; // the client went away
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
  const open = () => !ctx.res.writableEnded && !ctx.res.destroyed;
  const matching = () => ctx.store.list(r, ns).filter((o) => matchesSelectors(o, params));
  ctx.res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
  const event = (type: string, obj: KubeObject) =>
    ctx.res.write(
      `${
        JSON.stringify({ type, object: table ? toTable(r, [obj], ctx.store.resourceVersion) : obj })
      }\n`,
    );
  for (const obj of matching()) {
    if (Number(obj.metadata.resourceVersion) > since) event("ADDED", obj);
  }
  // The MODIFIED events only bump resourceVersion: enough for a client to print a new line.
  matching().forEach((obj, i) =>
    ctx.later(() => {
      const current = ctx.store.get(r, obj.metadata.namespace, obj.metadata.name);
      if (current && open()) event("MODIFIED", ctx.store.put(r, obj.metadata.namespace, current));
    }, WATCH_EVENT_MS * (i + 1))
  );
  // `timeoutSeconds` as the API server reads it: a test that needs a watch held open asks.
  const timeout = Number(params.get("timeoutSeconds") ?? NaN);
  ctx.later(() => ctx.res.end(), Number.isFinite(timeout) ? timeout * 1000 : WATCH_END_MS);
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
      updatedReplicas: replicas,
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
