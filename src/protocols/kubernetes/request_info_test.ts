import { deepEqual, equal, notStrictEqual } from "node:assert/strict";
import type { K8sFacts } from "../../core/mod.ts";
import { requestInfo } from "./request_info.ts";

interface Case {
  /** `METHOD /path?query`, parsed below; the query is decoded the way a URL parser would. */
  request: string;
  /** Fields that differ from a resource request with every string empty. */
  want: Partial<K8sFacts>;
}

function parse(request: string): { method: string; path: string; query: Record<string, string[]> } {
  const [method, target] = request.split(" ");
  const [path, search = ""] = target.split("?");
  const query: Record<string, string[]> = {};
  for (const [key, value] of new URLSearchParams(search)) (query[key] ??= []).push(value);
  return { method, path: decodeURIComponent(path), query };
}

function check(cases: Case[]): void {
  for (const { request, want } of cases) {
    const input = parse(request);
    const expected: K8sFacts = {
      verb: "",
      resource: "",
      subresource: "",
      namespace: "",
      name: "",
      api_group: "",
      api_version: "",
      is_resource_request: true,
      params: input.query,
      ...want,
    };
    deepEqual(requestInfo(input), expected, request);
  }
}

const v1 = { api_version: "v1" };
const apps = { api_group: "apps", api_version: "v1" };
const pods = { ...v1, resource: "pods" };
const nsPods = { ...pods, namespace: "ns" };
const pod = { ...nsPods, name: "p" };

Deno.test("requestInfo() derives verbs from the method like apiserver", () => {
  check([
    { request: "GET /api/v1/pods", want: { ...pods, verb: "list" } },
    { request: "GET /api/v1/namespaces/ns/pods", want: { ...nsPods, verb: "list" } },
    { request: "GET /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "get" } },
    { request: "HEAD /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "get" } },
    { request: "HEAD /api/v1/pods", want: { ...pods, verb: "list" } },
    { request: "POST /api/v1/namespaces/ns/pods", want: { ...nsPods, verb: "create" } },
    { request: "PUT /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "update" } },
    { request: "PATCH /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "patch" } },
    { request: "DELETE /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "delete" } },
    { request: "DELETE /api/v1/namespaces/ns/pods", want: { ...nsPods, verb: "deletecollection" } },
    {
      request: "DELETE /api/v1/nodes",
      want: { ...v1, resource: "nodes", verb: "deletecollection" },
    },
    { request: "get /api/v1/namespaces/ns/pods/p", want: { ...pod, verb: "get" } },
    { request: "Delete /api/v1/namespaces/ns/pods", want: { ...nsPods, verb: "deletecollection" } },
    // apiserver has no verb for other methods on a resource.
    { request: "OPTIONS /api/v1/pods", want: { ...pods, verb: "" } },
  ]);
});

Deno.test("requestInfo() reads groups, versions and cluster-scoped resources", () => {
  const rbac = { api_group: "rbac.authorization.k8s.io", api_version: "v1" };
  check([
    {
      request: "GET /api/v1/nodes/n1",
      want: { ...v1, resource: "nodes", name: "n1", verb: "get" },
    },
    {
      request: "GET /apis/rbac.authorization.k8s.io/v1/clusterroles",
      want: { ...rbac, resource: "clusterroles", verb: "list" },
    },
    {
      request: "POST /apis/apps/v1beta2/namespaces/ns/deployments",
      want: {
        api_group: "apps",
        api_version: "v1beta2",
        namespace: "ns",
        resource: "deployments",
        verb: "create",
      },
    },
  ]);
});

Deno.test("requestInfo() treats the namespaces resource as scoped to itself", () => {
  const namespaces = { ...v1, resource: "namespaces" };
  check([
    { request: "GET /api/v1/namespaces", want: { ...namespaces, verb: "list" } },
    {
      request: "GET /api/v1/namespaces/ns",
      want: { ...namespaces, namespace: "ns", name: "ns", verb: "get" },
    },
    {
      request: "DELETE /api/v1/namespaces/prod",
      want: { ...namespaces, namespace: "prod", name: "prod", verb: "delete" },
    },
    // Server-side apply creating a namespace: apiserver leaves it unscoped.
    {
      request: "PATCH /api/v1/namespaces/new",
      want: { ...namespaces, name: "new", verb: "patch" },
    },
    {
      request: "PUT /api/v1/namespaces/ns/status",
      want: { ...namespaces, namespace: "ns", name: "ns", subresource: "status", verb: "update" },
    },
    {
      request: "PUT /api/v1/namespaces/ns/finalize",
      want: { ...namespaces, namespace: "ns", name: "ns", subresource: "finalize", verb: "update" },
    },
  ]);
});

Deno.test("requestInfo() reads subresources and keeps the method's verb for ordinary ones", () => {
  const scale = {
    ...apps,
    namespace: "ns",
    resource: "deployments",
    name: "d",
    subresource: "scale",
  };
  check([
    {
      request: "GET /apis/apps/v1/namespaces/ns/deployments/d/scale",
      want: { ...scale, verb: "get" },
    },
    {
      request: "PUT /apis/apps/v1/namespaces/ns/deployments/d/scale",
      want: { ...scale, verb: "update" },
    },
    {
      request: "PATCH /apis/apps/v1/namespaces/ns/deployments/d/scale",
      want: { ...scale, verb: "patch" },
    },
    {
      request: "PUT /api/v1/namespaces/ns/pods/p/status",
      want: { ...pod, subresource: "status", verb: "update" },
    },
    {
      request: "GET /api/v1/namespaces/ns/pods/p/status",
      want: { ...pod, subresource: "status", verb: "get" },
    },
  ]);
});

Deno.test("requestInfo() names exec, attach, portforward, proxy and log as verbs", () => {
  check([
    {
      request: "GET /api/v1/namespaces/ns/pods/p/log?follow=true",
      want: { ...pod, subresource: "log", verb: "log" },
    },
    {
      request: "POST /api/v1/namespaces/ns/pods/p/exec?command=ls&command=-l&stdout=true",
      want: { ...pod, subresource: "exec", verb: "exec" },
    },
    // kubectl 1.30+ execs over a WebSocket upgrade, which is a GET.
    {
      request: "GET /api/v1/namespaces/ns/pods/p/exec?command=sh",
      want: { ...pod, subresource: "exec", verb: "exec" },
    },
    {
      request: "POST /api/v1/namespaces/ns/pods/p/attach",
      want: { ...pod, subresource: "attach", verb: "attach" },
    },
    {
      request: "POST /api/v1/namespaces/ns/pods/p/portforward?ports=8080",
      want: { ...pod, subresource: "portforward", verb: "portforward" },
    },
    {
      request: "GET /api/v1/namespaces/ns/services/s/proxy/metrics",
      want: {
        ...v1,
        namespace: "ns",
        resource: "services",
        name: "s",
        subresource: "proxy",
        verb: "proxy",
      },
    },
    // Deprecated `/proxy/` path verb: apiserver reads no subresource from the rest of the path.
    { request: "GET /api/v1/proxy/namespaces/ns/pods/p/exec/x", want: { ...pod, verb: "proxy" } },
  ]);
  const exec = requestInfo(parse("POST /api/v1/namespaces/ns/pods/p/exec?command=ls&command=-l"));
  deepEqual(exec.params.command, ["ls", "-l"]);
});

Deno.test("requestInfo() derives watch from the path and from the watch parameter", () => {
  check([
    { request: "GET /api/v1/watch/pods", want: { ...pods, verb: "watch" } },
    { request: "GET /api/v1/watch/namespaces/ns/pods", want: { ...nsPods, verb: "watch" } },
    { request: "GET /api/v1/watch/namespaces/ns/pods/p", want: { ...pod, verb: "watch" } },
    { request: "GET /api/v1/pods?watch=true", want: { ...pods, verb: "watch" } },
    { request: "GET /api/v1/namespaces/ns/pods?watch=1", want: { ...nsPods, verb: "watch" } },
    { request: "GET /api/v1/pods?watch=false", want: { ...pods, verb: "list" } },
    { request: "GET /api/v1/pods?watch=FALSE", want: { ...pods, verb: "list" } },
    { request: "GET /api/v1/pods?watch=0", want: { ...pods, verb: "list" } },
    // apimachinery parses any other value, even an empty one, as true.
    { request: "GET /api/v1/pods?watch=", want: { ...pods, verb: "watch" } },
    { request: "GET /api/v1/pods?watch=yes", want: { ...pods, verb: "watch" } },
    { request: "GET /api/v1/pods?watch=0&watch=1", want: { ...pods, verb: "list" } },
    // Successful decoding compares with strings.EqualFold, which folds the long s; the
    // fallback after a failed decode lowercases only.
    { request: "GET /api/v1/pods?watch=fal%C5%BFe", want: { ...pods, verb: "list" } },
    { request: "GET /api/v1/pods?watch=fal%C5%BFe&limit=x", want: { ...pods, verb: "watch" } },
    // A named GET is a get whatever the parameter says.
    { request: "GET /api/v1/namespaces/ns/pods/p?watch=true", want: { ...pod, verb: "get" } },
  ]);
});

Deno.test("requestInfo() narrows list and watch to a metadata.name field selector", () => {
  const sel = (s: string) =>
    `GET /api/v1/namespaces/ns/pods?fieldSelector=${encodeURIComponent(s)}`;
  check([
    { request: sel("metadata.name=x"), want: { ...nsPods, name: "x", verb: "list" } },
    { request: sel("metadata.name==x"), want: { ...nsPods, name: "x", verb: "list" } },
    {
      request: sel("metadata.name=x") + "&watch=true",
      want: { ...nsPods, name: "x", verb: "watch" },
    },
    // Other terms only narrow further, so apiserver still reports the name.
    {
      request: sel("status.phase=Running,metadata.name=x"),
      want: { ...nsPods, name: "x", verb: "list" },
    },
    { request: sel("metadata.name=a\\,b"), want: { ...nsPods, name: "a,b", verb: "list" } },
    // Cases where apiserver does not narrow.
    { request: sel("metadata.name!=x"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.namespace=x"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=x,foo"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=x,foo") + "&watch=true", want: { ...nsPods, verb: "watch" } },
    { request: sel("metadata.name=a=b"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=a\\b"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=a/b"), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=.."), want: { ...nsPods, verb: "list" } },
    { request: sel("metadata.name=x") + "&limit=ten", want: { ...nsPods, verb: "list" } },
    {
      request: sel("metadata.name=x") + "&limit=500",
      want: { ...nsPods, name: "x", verb: "list" },
    },
    // strconv.ParseInt's int64 range, at both ends; leading zeros do not count.
    ...[
      "9223372036854775807",
      "-9223372036854775808",
      "+000000000000000000000001",
      "-999999999999999999",
    ].map((limit) => ({
      request: sel("metadata.name=x") + `&limit=${encodeURIComponent(limit)}`,
      want: { ...nsPods, name: "x", verb: "list" },
    })),
    ...["9223372036854775808", "-9223372036854775809", "99999999999999999999"].map((limit) => ({
      request: sel("metadata.name=x") + `&timeoutSeconds=${limit}`,
      want: { ...nsPods, verb: "list" },
    })),
    {
      request: "GET /api/v1/watch/pods?fieldSelector=metadata.name%3Dx",
      want: { ...pods, verb: "watch" },
    },
    {
      request: "DELETE /api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dx",
      want: { ...nsPods, verb: "deletecollection" },
    },
    {
      request: "GET /api/v1/namespaces/ns/pods/p?fieldSelector=metadata.name%3Dq",
      want: { ...pod, verb: "get" },
    },
  ]);
});

Deno.test("requestInfo() marks discovery and non-API paths as non-resource requests", () => {
  const nonResource = (verb: string) => ({ is_resource_request: false, verb });
  check([
    { request: "GET /version", want: nonResource("get") },
    { request: "GET /healthz", want: nonResource("get") },
    { request: "GET /openapi/v2", want: nonResource("get") },
    { request: "GET /", want: nonResource("get") },
    { request: "GET /api", want: nonResource("get") },
    { request: "GET /api/v1", want: nonResource("get") },
    { request: "GET /api/v1/", want: nonResource("get") },
    { request: "GET /apis", want: nonResource("get") },
    { request: "GET /apis/apps", want: nonResource("get") },
    { request: "GET /apis/apps/v1", want: nonResource("get") },
    { request: "GET /apis/apps/v1/", want: nonResource("get") },
    { request: "GET /badprefix/v1/pods", want: nonResource("get") },
    { request: "POST /healthz", want: nonResource("post") },
    { request: "head /livez?verbose", want: nonResource("head") },
  ]);
});

Deno.test("requestInfo() splits paths as apiserver does: trimmed ends, inner empty segments kept", () => {
  check([
    { request: "GET /api/v1/namespaces/ns/pods/", want: { ...nsPods, verb: "list" } },
    { request: "GET /api/v1/namespaces/ns/pods/p/", want: { ...pod, verb: "get" } },
    { request: "GET //api/v1/pods//", want: { ...pods, verb: "list" } },
    { request: "GET /api/v1//pods", want: { ...v1, name: "pods", verb: "get" } },
    // `/apis/VERSION/RESOURCE` lacks a group, so apiserver sees too few segments.
    { request: "GET /apis/v1/pods", want: { is_resource_request: false, verb: "get" } },
    // apiserver errors here (500) after marking a resource request; we report that state.
    { request: "GET /api/v1/watch", want: { ...v1, verb: "get" } },
  ]);
});

Deno.test("requestInfo() copies every query parameter into params", () => {
  const input = parse("POST /api/v1/namespaces/ns/pods?dryRun=All&fieldManager=kubectl");
  const facts = requestInfo(input);
  deepEqual(facts.params, { dryRun: ["All"], fieldManager: ["kubectl"] });
  notStrictEqual(facts.params.dryRun, input.query.dryRun);
  input.query.dryRun.push("x");
  deepEqual(facts.params.dryRun, ["All"]);
});

Deno.test("requestInfo() keeps a parameter named like an Object property as a key, and reads methods in any case", () => {
  const query: Record<string, string[]> = Object.create(null);
  query["__proto__"] = ["a"];
  query["constructor"] = ["b"];
  const facts = requestInfo({ method: "CONSTRUCTOR", path: "/api/v1/namespaces/ns/pods", query });
  deepEqual(Object.keys(facts.params).sort(), ["__proto__", "constructor"]);
  deepEqual(facts.params["__proto__"], ["a"]);
  // Not a method apiserver names a verb for: an empty verb, never an inherited property.
  equal(facts.verb, "");
  for (const method of ["get", "GET", "Get"]) {
    equal(requestInfo({ method, path: "/api/v1/namespaces/ns/pods/p", query }).verb, "get");
  }
  equal(
    requestInfo({ method: "Delete", path: "/api/v1/namespaces/ns/pods", query }).verb,
    "deletecollection",
  );
});
