import { deepStrictEqual, equal } from "node:assert/strict";
import { cleartextRefusal, routeRefusal } from "./_route_refusal.ts";

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

Deno.test("cleartextRefusal() points a claimed host at https, and otherwise refuses as routeRefusal() does", () => {
  const endpoint = {
    kind: "endpoint" as const,
    endpoint: { name: "gh", allowEncodedSlash: false },
  };
  deepStrictEqual(cleartextRefusal(endpoint, AGENT, { host: "api.test", port: 80 }), {
    endpoint: "gh",
    reason: "endpoint 'gh' takes https only: use https://api.test",
    status: 400,
    error: "bad_request",
  });
  // Port 80 of a host claimed on 443 is most likely a URL missing its "s".
  const unclaimed = { kind: "unclaimed_port" as const, endpoint: "gh", ports: [443] };
  equal(
    cleartextRefusal(unclaimed, AGENT, { host: "api.test", port: 80 })?.reason,
    "endpoint 'gh' takes https only: use https://api.test",
  );
  deepStrictEqual(cleartextRefusal(unclaimed, AGENT, { host: "api.test", port: 8080 }), {
    endpoint: "gh",
    reason: "port 8080 is not one of the ports of endpoint 'gh' (443)",
    status: 403,
    error: "denied",
  });
  const target = { host: "x.test", port: 80 };
  equal(
    cleartextRefusal({ kind: "outside_profile", endpoint: "other" }, AGENT, target)?.status,
    403,
  );
  equal(cleartextRefusal({ kind: "unknown", unknownHost: "passthrough" }, AGENT, target), null);
});
