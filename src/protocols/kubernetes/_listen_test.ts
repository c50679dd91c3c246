import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import type { KubernetesEndpoint } from "./endpoint.ts";
import { kubernetesTarget } from "./_listen.ts";

function endpoint(server: string): KubernetesEndpoint {
  return {
    name: "prod",
    protocol: "kubernetes",
    server,
    unknownPlaceholders: "deny",
  } as KubernetesEndpoint;
}

Deno.test("kubernetesTarget() is worked out once per endpoint and cannot be changed by a request", () => {
  const e = endpoint("https://API.example.com.:6443");
  const target = kubernetesTarget(e);
  deepStrictEqual(target.server, { host: "api.example.com", port: 6443 });
  equal(kubernetesTarget(e), target);
  ok(Object.isFrozen(target) && Object.isFrozen(target.route) && Object.isFrozen(target.server));
  throws(() => {
    (target.server as { port: number }).port = 1;
  }, TypeError);
  // A reload makes new endpoint objects: each gets its own target.
  const reloaded = kubernetesTarget(endpoint("https://[::1]"));
  deepStrictEqual(reloaded.server, { host: "::1", port: 443 });
  equal(kubernetesTarget(e).server.port, 6443);
});
