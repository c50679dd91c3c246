/**
 * What `clawpatrol test` derives from an HTTP fixture case, as the gateway would from the
 * request: `http.canonical_path` and `http.path_anomalies` from `http.path`, `http.graphql` from
 * the query and JSON body. Facts the case gives win.
 *
 * @module
 */

import type { DerivedFacts, FixtureDeriver } from "../../core/mod.ts";
import { graphqlFacts } from "./_graphql.ts";
import { pathForms } from "./_request_forms.ts";

type CaseFacts = Record<string, Record<string, unknown>>;

/** Derives the https fixture facts (see the module doc). */
export const httpFixtureFacts: FixtureDeriver = (facts) => [withHttpDerived(facts)];

/**
 * The case's facts with the `http` facts the gateway derives filled in, and `http.graphql`
 * unknown when the gateway could not read the GraphQL it carries. Kubernetes cases start here.
 */
export function withHttpDerived(facts: CaseFacts): DerivedFacts {
  const { facts: derived, unknown } = withGraphql(withPathForms(facts));
  return unknown.length > 0 ? { facts: derived, unknown } : { facts: derived };
}

/**
 * `http.canonical_path` and `http.path_anomalies` of the case's `http.path`, as the gateway
 * derives them, unless the case gives them.
 */
function withPathForms(facts: CaseFacts): CaseFacts {
  const http = facts.http;
  if (typeof http?.path !== "string") return facts;
  const forms = pathForms(http.path);
  return {
    ...facts,
    http: { canonical_path: forms.canonicalPath, path_anomalies: forms.anomalies, ...http },
  };
}

/**
 * `http.graphql` of the case's request (its `query` parameters and JSON body), with the
 * gateway's own parser, unless the case gives it; GraphQL the gateway could not read leaves
 * `http.graphql` unknown, as it would at the gateway.
 */
function withGraphql(facts: CaseFacts): { facts: CaseFacts; unknown: string[] } {
  const http = facts.http;
  if (!http || "graphql" in http) return { facts, unknown: [] };
  const query: Record<string, string[]> = Object.create(null);
  const given = http.query ?? {};
  if (given !== null && typeof given === "object" && !Array.isArray(given)) {
    for (const [name, value] of Object.entries(given)) {
      query[name] = (Array.isArray(value) ? value : [value]).map(String);
    }
  }
  let json = http.body_json ?? null;
  if (json === null && typeof http.body === "string" && http.body !== "") {
    try {
      json = JSON.parse(http.body);
    } catch {
      // Not JSON: no GraphQL body, as at the gateway.
    }
  }
  const graphql = graphqlFacts({ query, body_json: json });
  if (graphql === null) return { facts, unknown: [] };
  if (graphql === "unknown") return { facts, unknown: ["http.graphql"] };
  return { facts: { ...facts, http: { ...http, graphql } }, unknown: [] };
}
