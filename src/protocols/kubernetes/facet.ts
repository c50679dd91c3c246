/**
 * The `k8s` facet: the CEL schema of the apiserver's RequestInfo facts (DESIGN.md §4), derived
 * from the HTTP request by `request_info.ts`.
 *
 * @module
 */

import type { Facet } from "../../core/mod.ts";

/** The `k8s` variable. */
export const K8S_FACET: Facet = Object.freeze({
  variable: "k8s",
  type: "K8sFacts",
  fields: Object.freeze({
    verb: "string",
    resource: "string",
    subresource: "string",
    namespace: "string",
    name: "string",
    api_group: "string",
    api_version: "string",
    is_resource_request: "bool",
    params: "map<string, list<string>>",
  }),
});
