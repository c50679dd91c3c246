import { deepStrictEqual, equal, ok } from "node:assert/strict";
import type { Facet } from "../core/mod.ts";
import { protocolOf, PROTOCOLS } from "./registry.ts";

/** Field types the policy knows how to zero-fill, coerce and type-check (besides messages). */
const CEL_TYPES = new Set([
  "string",
  "int",
  "bool",
  "dyn",
  "list<string>",
  "map<string, list<string>>",
]);

Deno.test("the registry lists each family once, named as config labels and receipts need", () => {
  const families = PROTOCOLS.map((p) => p.family);
  deepStrictEqual(families, ["https", "postgres", "kubernetes", "aws"]);
  equal(new Set(families).size, families.length);
  for (const family of families) {
    ok(/^[a-z][a-z0-9_-]*$/.test(family), family);
    equal(protocolOf(family)?.family, family);
  }
  equal(protocolOf("gateway"), undefined, "gateway names the gateway's own receipts");
});

Deno.test("a fact variable has one schema, whichever protocols declare it", () => {
  const byVariable = new Map<string, Facet>();
  for (const protocol of PROTOCOLS) {
    ok(protocol.facets.length > 0, `${protocol.family} declares no facet`);
    for (const facet of protocol.facets) {
      // `agent` belongs to the gateway: every rule sees it, whatever its protocol.
      ok(facet.variable !== "agent", `${protocol.family} redeclares agent`);
      const seen = byVariable.get(facet.variable);
      ok(!seen || seen === facet, `${facet.variable} is declared twice with different schemas`);
      byVariable.set(facet.variable, facet);
    }
  }
  deepStrictEqual(protocolOf("kubernetes")!.facets.map((f) => f.variable), ["k8s", "http"]);
});

Deno.test("every facet field has a type the policy can check, fill and coerce", () => {
  for (const protocol of PROTOCOLS) {
    for (const facet of protocol.facets) {
      const messages = facet.messages ?? {};
      const types = [
        ...Object.values(facet.fields),
        ...Object.values(messages).flatMap((m) => Object.values(m)),
      ];
      for (const type of types) {
        ok(CEL_TYPES.has(type) || Object.hasOwn(messages, type), `${facet.variable}: ${type}`);
      }
    }
  }
});

Deno.test("every protocol declares its endpoint schema, and each credential kind has one family", () => {
  const owners = new Map<string, string>();
  for (const protocol of PROTOCOLS) {
    ok(protocol.endpoint, `${protocol.family} declares no endpoint schema`);
    for (const kind of Object.keys(protocol.credentials ?? {})) {
      equal(owners.get(kind), undefined, `${kind} is declared twice`);
      owners.set(kind, protocol.family);
    }
  }
  deepStrictEqual(Object.fromEntries(owners), {
    bearer_token: "https",
    header_token: "https",
    basic_auth: "https",
    query_token: "https",
    gcp_service_account: "https",
    oauth_refresh: "https",
    postgres_credential: "postgres",
    k8s_bearer_token: "kubernetes",
    mtls_credential: "kubernetes",
    aws_credential: "aws",
  });
});
