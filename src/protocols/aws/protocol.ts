/**
 * What the aws protocol declares to config, policy, audit and `clawpatrol test` (see
 * `core/protocol.ts`): an HTTP-based family whose rules read `aws` and `http`.
 *
 * @module
 */

import type { Endpoint, Protocol } from "../../core/mod.ts";
import { GRAPHQL, HTTP_FACET } from "../http/mod.ts";
import { AWS_FACET } from "./facet.ts";
import { AWS_CREDENTIALS, AWS_ENDPOINT, awsUpstreams, isAwsEndpoint } from "./endpoint.ts";
import { awsFixtureFacts } from "./fixture.ts";

/** `endpoint "aws" NAME`: AWS APIs through the forward proxy, signed by the gateway. */
export const AWS_PROTOCOL: Protocol = Object.freeze({
  family: "aws",
  facets: Object.freeze([AWS_FACET, HTTP_FACET]),
  fixtureFacts: () => GRAPHQL.ready().then(() => awsFixtureFacts),
  endpoint: AWS_ENDPOINT,
  credentials: AWS_CREDENTIALS,
  upstreams: awsUpstreams,
  names: (endpoint: Endpoint) => isAwsEndpoint(endpoint) ? [...endpoint.hosts] : [],
  // Served by the forward proxy, as a CONNECT to the name on one of the endpoint's ports.
  intercept: {
    via: "proxy" as const,
    ports: (endpoint: Endpoint) => isAwsEndpoint(endpoint) ? [...endpoint.ports] : [],
  },
});
