/**
 * The fake API server's data: the served resources, the in-memory object store with its seed
 * objects, `Status` bodies, selectors, merge patch and `Table` conversion. No I/O:
 * tests/_k8s_apiserver.ts serves it.
 *
 * @module
 */

/** A Kubernetes object as JSON. */
// deno-lint-ignore no-explicit-any
export type KubeObject = Record<string, any>;

/** One served resource: where it lives in the API and how discovery describes it. */
export interface ResourceInfo {
  /** `""` for the core group. */
  group: string;
  version: string;
  resource: string;
  kind: string;
  namespaced: boolean;
  shortNames: string[];
}

/** Every resource the store serves. */
export const RESOURCES: ResourceInfo[] = [
  ["", "namespaces", "Namespace", false, ["ns"]],
  ["", "pods", "Pod", true, ["po"]],
  ["", "secrets", "Secret", true, []],
  ["", "configmaps", "ConfigMap", true, ["cm"]],
  ["", "services", "Service", true, ["svc"]],
  ["apps", "deployments", "Deployment", true, ["deploy"]],
].map(([group, resource, kind, namespaced, shortNames]) => ({
  group: group as string,
  version: "v1",
  resource: resource as string,
  kind: kind as string,
  namespaced: namespaced as boolean,
  shortNames: shortNames as string[],
}));

/** `apiVersion` of objects in a group: `v1` for core, `apps/v1` for apps. */
export function apiVersionOf(info: ResourceInfo): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** A `Status` failure body, the shape kubectl turns into `Error from server (Reason): message`. */
export function status(
  code: number,
  reason: string,
  message: string,
  details?: KubeObject,
): KubeObject {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** 404 for a missing object, worded like the real server (`pods "p" not found`). */
export function notFound(resource: string, name: string): KubeObject {
  return status(404, "NotFound", `${resource} "${name}" not found`, { name, kind: resource });
}

/** The in-memory cluster state, seeded with a few namespaces, pods, secrets and deployments. */
export class ObjectStore {
  #objects = new Map<string, KubeObject>();
  #resourceVersion = 1000;
  #podCount = 0;

  constructor() {
    for (const ns of ["default", "prod", "scratch", "kube-system"]) {
      this.create(info("namespaces"), undefined, {
        metadata: { name: ns },
        spec: { finalizers: ["kubernetes"] },
      });
    }
    const pods: [string, string, string][] = [
      ["default", "web-1", "web"],
      ["default", "web-2", "web"],
      ["prod", "api-1", "api"],
      ["scratch", "p", "scratch"],
      ["kube-system", "coredns-1", "coredns"],
    ];
    for (const [ns, name, app] of pods) this.create(info("pods"), ns, pod(name, app));
    this.create(info("secrets"), "default", {
      metadata: { name: "db-password" },
      type: "Opaque",
      data: { password: btoa("hunter2") },
    });
    this.create(info("secrets"), "prod", {
      metadata: { name: "api-key" },
      type: "Opaque",
      data: { key: btoa("prod-key") },
    });
    this.create(info("configmaps"), "default", {
      metadata: { name: "app-config" },
      data: { LOG_LEVEL: "info" },
    });
    this.create(info("services"), "default", {
      metadata: { name: "web" },
      spec: { type: "ClusterIP", clusterIP: "10.96.0.10", ports: [{ port: 80, protocol: "TCP" }] },
    });
    this.create(info("deployments"), "default", deployment("web", 2));
    this.create(info("deployments"), "prod", deployment("api", 3));
  }

  /** The current resourceVersion, for list metadata. */
  get resourceVersion(): string {
    return String(this.#resourceVersion);
  }

  #key(r: ResourceInfo, ns: string | undefined, name: string): string {
    return `${r.group}/${r.resource}/${r.namespaced ? ns : ""}/${name}`;
  }

  /** Objects of `r` (in `ns` when given), sorted by namespace then name like the real server. */
  list(r: ResourceInfo, ns?: string): KubeObject[] {
    const prefix = `${r.group}/${r.resource}/${r.namespaced && ns ? `${ns}/` : ""}`;
    return [...this.#objects.entries()]
      .filter(([key]) => key.startsWith(prefix))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([, obj]) => structuredClone(obj));
  }

  get(r: ResourceInfo, ns: string | undefined, name: string): KubeObject | undefined {
    const obj = this.#objects.get(this.#key(r, ns, name));
    return obj && structuredClone(obj);
  }

  /** Stores `body` with server-set metadata; undefined when the name is taken. */
  create(r: ResourceInfo, ns: string | undefined, body: KubeObject): KubeObject | undefined {
    const name = body.metadata?.name ?? `${body.metadata?.generateName ?? "obj-"}${this.#suffix()}`;
    const key = this.#key(r, ns, name);
    if (this.#objects.has(key)) return undefined;
    const obj = structuredClone(body);
    obj.apiVersion = apiVersionOf(r);
    obj.kind = r.kind;
    obj.metadata = {
      ...obj.metadata,
      name,
      ...(r.namespaced ? { namespace: ns } : {}),
      uid: crypto.randomUUID(),
      creationTimestamp: new Date(Math.floor(Date.now() / 1000) * 1000).toISOString()
        .replace(".000Z", "Z"),
    };
    // Defaults a real cluster fills in: a created pod "runs" at once (so logs and exec work on
    // it), a secret is Opaque, a namespace Active.
    if (r.resource === "pods" && !obj.status?.phase) obj.status = podStatus(obj, ++this.#podCount);
    if (r.resource === "secrets" && !obj.type) obj.type = "Opaque";
    if (r.resource === "namespaces" && !obj.status?.phase) obj.status = { phase: "Active" };
    return this.put(r, ns, obj);
  }

  /** Replaces (or stores) an object as given, bumping its resourceVersion. */
  put(r: ResourceInfo, ns: string | undefined, obj: KubeObject): KubeObject {
    obj.metadata.resourceVersion = String(++this.#resourceVersion);
    this.#objects.set(this.#key(r, ns, obj.metadata.name), obj);
    return structuredClone(obj);
  }

  /** Removes an object; a namespace takes everything in it along. */
  delete(r: ResourceInfo, ns: string | undefined, name: string): KubeObject | undefined {
    const obj = this.get(r, ns, name);
    if (!obj) return undefined;
    this.#objects.delete(this.#key(r, ns, name));
    if (r.resource === "namespaces") {
      for (const key of [...this.#objects.keys()]) {
        if (key.split("/")[2] === name) this.#objects.delete(key);
      }
    }
    return obj;
  }

  #suffix(): string {
    return crypto.randomUUID().slice(0, 5);
  }
}

/** The resource named `resource` in any group (kubectl paths always name the group too). */
export function info(resource: string, group?: string): ResourceInfo {
  const r = RESOURCES.find((x) => x.resource === resource && (group ?? x.group) === x.group);
  if (!r) throw new TypeError(`Unknown resource '${resource}'`);
  return r;
}

function pod(name: string, app: string): KubeObject {
  const image = app === "coredns" ? "coredns/coredns:1.11.1" : `example/${app}:1.0`;
  return {
    metadata: { name, labels: { app } },
    spec: { containers: [{ name: app, image }], nodeName: "node-1" },
  };
}

function podStatus(pod: KubeObject, n: number): KubeObject {
  const containers: KubeObject[] = pod.spec?.containers ?? [];
  return {
    phase: "Running",
    podIP: `10.244.${n >> 8}.${n & 0xff}`,
    containerStatuses: containers.map((c) => ({
      name: c.name,
      image: c.image,
      ready: true,
      restartCount: 0,
      started: true,
    })),
  };
}

function deployment(name: string, replicas: number): KubeObject {
  return {
    metadata: { name, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name, image: `example/${name}:1.0` }] },
      },
    },
    status: {
      replicas,
      readyReplicas: replicas,
      updatedReplicas: replicas,
      availableReplicas: replicas,
    },
  };
}

/**
 * Whether `obj` matches a `fieldSelector` or `labelSelector` of `k=v`, `k==v`, `k!=v` terms.
 * kubectl's `delete` waits with `fieldSelector=metadata.name=NAME`, so this must not match all.
 */
export function matchesSelectors(obj: KubeObject, params: URLSearchParams): boolean {
  const test = (selector: string | null, lookup: (key: string) => unknown) =>
    (selector ?? "").split(",").filter(Boolean).every((term) => {
      const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term);
      if (!m) return lookup(term) !== undefined; // `key`: the label exists
      const value = lookup(m[1]);
      return m[2] === "!=" ? value !== m[3] : value === m[3];
    });
  return test(
    params.get("fieldSelector"),
    (path) => path.split(".").reduce((o: KubeObject | undefined, k) => o?.[k], obj),
  ) &&
    test(params.get("labelSelector"), (key) => obj.metadata?.labels?.[key]);
}

/** RFC 7386 JSON merge patch; also stands in for strategic merge patch (lists are replaced). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: KubeObject = typeof target === "object" && target !== null && !Array.isArray(target)
    ? { ...target }
    : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * A `meta.k8s.io/v1` Table for `objects`, what kubectl's `get` asks for (`Accept: …;as=Table`).
 * Each row carries the object's metadata, from which kubectl adds the NAMESPACE column for `-A`.
 */
export function toTable(
  r: ResourceInfo,
  objects: KubeObject[],
  resourceVersion: string,
): KubeObject {
  const columns: [string, (o: KubeObject) => unknown][] = [["Name", (o) => o.metadata.name]];
  const extra: Record<string, [string, (o: KubeObject) => unknown][]> = {
    pods: [
      ["Ready", (o) => {
        const cs: KubeObject[] = o.status?.containerStatuses ?? [];
        return `${cs.filter((c) => c.ready).length}/${o.spec?.containers?.length ?? 0}`;
      }],
      ["Status", (o) => o.status?.phase ?? "Pending"],
      ["Restarts", () => 0],
    ],
    services: [
      ["Type", (o) => o.spec?.type ?? "ClusterIP"],
      ["Cluster-IP", (o) => o.spec?.clusterIP ?? "<none>"],
    ],
    configmaps: [["Data", (o) => Object.keys(o.data ?? {}).length]],
    secrets: [
      ["Type", (o) => o.type ?? "Opaque"],
      ["Data", (o) => Object.keys(o.data ?? {}).length],
    ],
    namespaces: [["Status", (o) => o.status?.phase ?? "Active"]],
    deployments: [
      ["Ready", (o) => `${o.status?.readyReplicas ?? 0}/${o.spec?.replicas ?? 1}`],
      ["Up-to-date", (o) => o.status?.updatedReplicas ?? 0],
      ["Available", (o) => o.status?.availableReplicas ?? 0],
    ],
  };
  // Only `-o wide` shows these (priority 1), after AGE, as on a real server.
  const wide: [string, (o: KubeObject) => unknown][] = r.resource !== "pods" ? [] : [
    ["IP", (o) => o.status?.podIP ?? "<none>"],
    ["Node", (o) => o.spec?.nodeName ?? "<none>"],
  ];
  columns.push(...(extra[r.resource] ?? []), ["Age", age], ...wide);
  return {
    kind: "Table",
    apiVersion: "meta.k8s.io/v1",
    metadata: { resourceVersion },
    columnDefinitions: columns.map(([name]) => ({
      name,
      type: name === "Restarts" || name === "Data" ? "integer" : "string",
      format: name === "Name" ? "name" : "",
      description: "",
      priority: wide.some(([w]) => w === name) ? 1 : 0,
    })),
    rows: objects.map((o) => ({
      cells: columns.map(([, cell]) => cell(o)),
      object: { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata },
    })),
  };
}

/** `AGE` from creationTimestamp, formatted roughly like the real server (`42s`, `5m`, `3h`). */
function age(obj: KubeObject): string {
  const seconds = Math.max(0, (Date.now() - Date.parse(obj.metadata?.creationTimestamp)) / 1000) ||
    0;
  if (seconds < 120) return `${Math.floor(seconds)}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h`;
}
