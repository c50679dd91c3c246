import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { HttpFacts } from "../../core/mod.ts";
import { NotLoaded, withLibraries } from "../../core/lazy.ts";
import { kubernetesFacts, summarize, YAML } from "./facts.ts";

function http(over: Partial<HttpFacts>): HttpFacts {
  return {
    method: "get",
    scheme: "https",
    host: "10.0.0.1",
    port: 6443,
    path: "/",
    raw_path: "/",
    canonical_path: "/",
    path_anomalies: [],
    effective_method: "get",
    query: {},
    headers: {},
    body: "",
    body_json: null,
    body_truncated: false,
    graphql: { operation_types: [], operation_name: "", fields: [] },
    placeholders: [],
    misplaced_placeholders: [],
    unknown_placeholders: [],
    ...over,
  };
}

// First in this file: the YAML parser is not in yet, as in a gateway that has seen no YAML body.
Deno.test("the first YAML body loads the parser, then is read as if it had always been in", async () => {
  assertEquals(YAML.loaded, false);
  // A JSON body or none needs no parser: still synchronous, nothing loaded.
  const plain = withLibraries(() => kubernetesFacts(http({ method: "get", path: "/api/v1/pods" })));
  assertEquals(plain instanceof Promise, false);
  assertEquals(YAML.loaded, false);
  const apply = http({
    method: "patch",
    path: "/api/v1/namespaces/scratch/pods/p",
    headers: { "content-type": ["application/apply-patch+yaml"] },
    body: "spec:\n  hostNetwork: true\n",
  });
  let missing: unknown = null;
  try {
    kubernetesFacts(apply);
  } catch (err) {
    missing = err;
  }
  assertEquals(missing instanceof NotLoaded, true);
  // The failed pass left the facts as they were, so the retry reads the same request.
  assertEquals(apply.body_json, null);
  const made = withLibraries(() => kubernetesFacts(apply));
  assertEquals(made instanceof Promise, true);
  const { facts, unknown } = await made;
  assertEquals(unknown, []);
  assertEquals(facts.http!.body_json, { spec: { hostNetwork: true } });
  assertEquals(YAML.loaded, true);
});

Deno.test("kubernetesFacts() composes request info with the http facts", () => {
  const h = http({ method: "delete", path: "/api/v1/namespaces/prod" });
  const { facts, summary } = kubernetesFacts(h);
  assertEquals(facts.http, h);
  assertEquals(
    [facts.k8s!.verb, facts.k8s!.resource, facts.k8s!.name, facts.k8s!.is_resource_request],
    ["delete", "namespaces", "prod", true],
  );
  assertEquals(summary, "delete namespaces prod");
});

Deno.test("kubernetesFacts() exposes a server-side-apply YAML body as body_json", async () => {
  await YAML.ready();
  const yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n" +
    "  - name: c\n    securityContext:\n      privileged: true\n";
  const { facts, unknown } = kubernetesFacts(http({
    method: "patch",
    path: "/api/v1/namespaces/scratch/pods/p",
    headers: { "content-type": ["application/apply-patch+yaml"] },
    body: yaml,
  }));
  assertEquals(unknown, []);
  const body = facts.http!.body_json as { spec: { containers: { securityContext: unknown }[] } };
  assertEquals(body.spec.containers[0].securityContext, { privileged: true });
});

Deno.test("kubernetesFacts() marks an unparseable apply body unknown instead of guessing", async () => {
  await YAML.ready();
  const { facts, unknown } = kubernetesFacts(http({
    method: "patch",
    path: "/api/v1/namespaces/scratch/pods/p",
    headers: { "content-type": ["application/apply-patch+yaml"] },
    body: "spec: [unclosed",
  }));
  assertEquals(unknown, ["http.body_json"]);
  assertEquals(facts.http!.body_json, null);
});

Deno.test("summarize() reads like the kubectl command", () => {
  const info = (path: string, method = "get", query: Record<string, string[]> = {}) => {
    const h = http({ method, path, query });
    return summarize(kubernetesFacts(h).facts.k8s!, h);
  };
  assertEquals(info("/api/v1/namespaces/default/pods"), "list pods -n default");
  assertEquals(info("/api/v1/secrets"), "list secrets");
  assertEquals(
    info("/api/v1/namespaces/default/pods/web-1/exec", "get", { command: ["ls", "-l"] }),
    "exec pods/exec web-1 -n default -- ls -l",
  );
  assertEquals(
    info("/apis/apps/v1/namespaces/prod/deployments/api", "delete"),
    "delete deployments.apps api -n prod",
  );
  assertEquals(info("/version"), "GET /version");
});

Deno.test("kubernetesFacts() reads an application/yaml create body too", async () => {
  await YAML.ready();
  const { facts, unknown } = kubernetesFacts(http({
    method: "post",
    path: "/api/v1/namespaces/scratch/pods",
    headers: { "content-type": ["application/yaml"] },
    body: "kind: Pod\nspec:\n  hostPID: true\n",
  }));
  assertEquals(unknown, []);
  assertEquals((facts.http!.body_json as { spec: unknown }).spec, { hostPID: true });
});

Deno.test("kubernetesFacts() leaves a protobuf body unknown, so body rules deny instead of passing", () => {
  const { facts, unknown } = kubernetesFacts(http({
    method: "post",
    path: "/apis/apps/v1/namespaces/scratch/deployments",
    headers: { "content-type": ["application/vnd.kubernetes.protobuf"] },
    body: "k8s\u0000\n\u0012\n\u0007apps/v1",
  }));
  assertEquals(unknown, ["http.body_json"]);
  assertEquals(facts.http!.body_json, null);
  // A request without a body has nothing unknown about it.
  assertEquals(kubernetesFacts(http({ path: "/api/v1/pods" })).unknown, []);
});
