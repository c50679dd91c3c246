import { deepStrictEqual, equal } from "node:assert/strict";
import { routeRefusal } from "./_route_refusal.ts";

const AGENT = { name: "bot", profile: "bots" };

Deno.test("routeRefusal() refuses a claimed host on a port its endpoint does not declare, naming the port and the endpoint's ports, beside its other refusals", () => {
  deepStrictEqual(
    routeRefusal(
      { kind: "unclaimed_port", endpoint: "github", ports: [443] },
      AGENT,
      { host: "api.github.com", port: 22 },
    ),
    { endpoint: "github", reason: "port 22 is not one of the ports of endpoint 'github' (443)" },
  );
  equal(
    routeRefusal(
      { kind: "unclaimed_port", endpoint: "alt", ports: [443, 8443] },
      AGENT,
      { host: "alt.test", port: 9443 },
    )?.reason,
    "port 9443 is not one of the ports of endpoint 'alt' (443, 8443)",
  );
  // The other refusals are unchanged.
  const target = { host: "x.test", port: 443 };
  deepStrictEqual(routeRefusal({ kind: "outside_profile", endpoint: "other" }, AGENT, target), {
    endpoint: "other",
    reason: "endpoint 'other' is not in profile 'bots'",
  });
  deepStrictEqual(routeRefusal({ kind: "unknown", unknownHost: "deny" }, AGENT, target), {
    endpoint: null,
    reason: "no endpoint claims host 'x.test' (defaults.unknown_host = deny)",
  });
  equal(routeRefusal({ kind: "unknown", unknownHost: "passthrough" }, AGENT, target), null);
  equal(
    routeRefusal(
      { kind: "endpoint", endpoint: { name: "x", allowEncodedSlash: false } },
      AGENT,
      target,
    ),
    null,
  );
});
