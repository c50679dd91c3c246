import { deepStrictEqual, equal, throws } from "node:assert/strict";
import { loadConfigText } from "../config/mod.ts";
import type { HostRoute } from "../protocols/http/mod.ts";
import { HttpRoutes } from "./_routes.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

const CONFIG = `schema_version = 1
defaults {
  unknown_host = "passthrough"
}
endpoint "https" "github" {
  hosts = ["api.github.com", "*.githubusercontent.com"]
}
endpoint "https" "alt" {
  hosts = ["alt.test"]
  ports = [8443, 443]
}
endpoint "https" "private" {
  hosts = ["private.test"]
}
endpoint "kubernetes" "cluster" {
  server = "https://10.0.0.1:6443"
}
endpoint "kubernetes" "default-port" {
  server = "https://k8s.test"
}
endpoint "https" "shared" {
  hosts = ["10.0.0.1"]
}
profile "bots" {
  endpoints = [https.github, https.alt, https.shared, kubernetes.cluster, kubernetes.default-port]
}
`;

const AGENT = { name: "bot", profile: "bots" };

/** The route's kind and the endpoint it names (`null` for unknown hosts). */
function where(route: HostRoute): [string, string | null] {
  switch (route.kind) {
    case "endpoint":
      return [route.kind, route.endpoint.name];
    case "outside_profile":
    case "unclaimed_port":
      return [route.kind, route.endpoint];
    case "unknown":
      return [route.kind, null];
  }
}

Deno.test("HttpRoutes.route() claims an https endpoint's hosts only on its ports, even with unknown_host = passthrough", async () => {
  const routes = new HttpRoutes(await loadConfigText("t.hcl", CONFIG, { protocols: PROTOCOLS }));
  deepStrictEqual(where(routes.route(AGENT, "api.github.com", 443)), ["endpoint", "github"]);
  deepStrictEqual(routes.route(AGENT, "api.github.com", 22), {
    kind: "unclaimed_port",
    endpoint: "github",
    ports: [443],
  });
  // Wildcard claims follow the same ports.
  deepStrictEqual(where(routes.route(AGENT, "raw.githubusercontent.com", 443)), [
    "endpoint",
    "github",
  ]);
  deepStrictEqual(where(routes.route(AGENT, "raw.githubusercontent.com", 8080)), [
    "unclaimed_port",
    "github",
  ]);
  deepStrictEqual(where(routes.route(AGENT, "alt.test", 8443)), ["endpoint", "alt"]);
  deepStrictEqual(where(routes.route(AGENT, "alt.test", 443)), ["endpoint", "alt"]);
  deepStrictEqual(routes.route(AGENT, "alt.test", 9443), {
    kind: "unclaimed_port",
    endpoint: "alt",
    ports: [443, 8443],
  });
  // An endpoint outside the profile is refused for that, whatever the port: its ports are
  // none of the agent's business.
  deepStrictEqual(where(routes.route(AGENT, "private.test", 22)), ["outside_profile", "private"]);
  // Only hosts no endpoint claims are unknown (and passed through here).
  deepStrictEqual(routes.route(AGENT, "nowhere.test", 22), {
    kind: "unknown",
    unknownHost: "passthrough",
  });
});

Deno.test("HttpRoutes.route() claims a Kubernetes API server's host only on the server's port", async () => {
  const routes = new HttpRoutes(await loadConfigText("t.hcl", CONFIG, { protocols: PROTOCOLS }));
  const cluster = routes.route(AGENT, "10.0.0.1", 6443);
  deepStrictEqual(where(cluster), ["endpoint", "cluster"]);
  equal(cluster.kind === "endpoint" && cluster.endpoint.flavor?.protocol, "kubernetes");
  // The same host on 443 belongs to the https endpoint claiming it there.
  deepStrictEqual(where(routes.route(AGENT, "10.0.0.1", 443)), ["endpoint", "shared"]);
  deepStrictEqual(routes.route(AGENT, "10.0.0.1", 22), {
    kind: "unclaimed_port",
    endpoint: "cluster",
    ports: [6443],
  });
  // A server URL without a port claims 443.
  deepStrictEqual(where(routes.route(AGENT, "k8s.test", 443)), ["endpoint", "default-port"]);
  deepStrictEqual(routes.route(AGENT, "K8S.test.", 6443), {
    kind: "unclaimed_port",
    endpoint: "default-port",
    ports: [443],
  });
});

Deno.test("HttpRoutes.route() answers an endpoint the same way each time, whoever asks, and no agent can change it", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${CONFIG}
profile "others" {
  endpoints = [https.private]
}
`,
    { protocols: PROTOCOLS },
  );
  const routes = new HttpRoutes(config);
  const OTHER = { name: "other", profile: "others" };
  const first = routes.route(AGENT, "api.github.com", 443);
  const again = routes.route(AGENT, "API.github.com.", 443);
  deepStrictEqual(again, first);
  equal(first.kind === "endpoint" && first.endpoint.upstream, undefined);
  // The profile and the port are checked on every call, before any kept answer.
  deepStrictEqual(where(routes.route(OTHER, "api.github.com", 443)), ["outside_profile", "github"]);
  deepStrictEqual(where(routes.route(AGENT, "api.github.com", 8443)), ["unclaimed_port", "github"]);
  deepStrictEqual(where(routes.route(OTHER, "private.test", 443)), ["endpoint", "private"]);
  deepStrictEqual(where(routes.route(AGENT, "private.test", 443)), ["outside_profile", "private"]);
  // One answer serves every request: it is frozen, so no caller can edit it for the next.
  if (first.kind !== "endpoint") throw new Error("expected an endpoint");
  throws(() => {
    (first.endpoint as { name: string }).name = "private";
  }, TypeError);
  deepStrictEqual(where(routes.route(AGENT, "api.github.com", 443)), ["endpoint", "github"]);
  // A reload builds new routes: a host moved to another endpoint goes there at once.
  const moved = new HttpRoutes(
    await loadConfigText(
      "t.hcl",
      CONFIG.replace('"api.github.com", ', "").replace(
        'hosts = ["alt.test"]',
        'hosts = ["alt.test", "api.github.com"]',
      ),
      { protocols: PROTOCOLS },
    ),
  );
  deepStrictEqual(where(moved.route(AGENT, "api.github.com", 443)), ["endpoint", "alt"]);
});
