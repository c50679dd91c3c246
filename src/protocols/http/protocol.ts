/**
 * What the https protocol declares to config, policy, audit and `clawpatrol test` (see
 * `core/protocol.ts`).
 *
 * @module
 */

import type { Endpoint, Protocol } from "../../core/mod.ts";
import { HTTP_FACET } from "./facet.ts";
import {
  HTTPS_CREDENTIALS,
  HTTPS_ENDPOINT,
  httpsNames,
  httpsUpstreams,
  isHttpsEndpoint,
} from "./endpoint.ts";
import { httpFixtureFacts } from "./fixture.ts";
import { GRAPHQL } from "./_graphql.ts";

/** `endpoint "https" NAME`: its rules read `http`. */
export const HTTPS_PROTOCOL: Protocol = Object.freeze({
  family: "https",
  facets: Object.freeze([HTTP_FACET]),
  fixtureFacts: () => GRAPHQL.ready().then(() => httpFixtureFacts),
  endpoint: HTTPS_ENDPOINT,
  credentials: HTTPS_CREDENTIALS,
  upstreams: httpsUpstreams,
  names: httpsNames,
  // Served by the forward proxy, as a CONNECT to the name on one of the endpoint's ports.
  intercept: {
    via: "proxy" as const,
    ports: (endpoint: Endpoint) => isHttpsEndpoint(endpoint) ? [...endpoint.ports] : [],
  },
});
