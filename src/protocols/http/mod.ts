/**
 * HTTP(S): the forward proxy agents use through `HTTPS_PROXY`, with TLS interception for hosts
 * an endpoint claims, HTTP facts and strict HTTP/1.1 parsing.
 *
 * @example
 * ```ts
 * import { HttpProxy } from "./src/protocols/http/mod.ts";
 *
 * const proxy = await HttpProxy.listen("127.0.0.1", 8080, context);
 * await proxy.close();
 * ```
 *
 * @module
 */

export { GRAPHQL_TYPE, HTTP_FACET } from "./facet.ts";
export { HTTPS_PROTOCOL } from "./protocol.ts";
export { HTTPS_ENDPOINT, type HttpsEndpoint, isHttpsEndpoint } from "./endpoint.ts";
export { withHttpDerived } from "./fixture.ts";
export { HttpProxy } from "./proxy.ts";
export { PROXY_AUTH_REQUIRED } from "./_proxy_auth.ts";
export type {
  ClientCertificate,
  ExchangeFlavor,
  HostRoute,
  HttpCredentialUse,
  HttpEndpointRoute,
  HttpProxyContext,
  HttpProxyLimits,
  HttpRequestParts,
  ProxyLogLevel,
  ResponseScrubber,
  UpstreamFailure,
} from "./context.ts";
export { RECEIPT_HEADER } from "./_respond.ts";
export {
  httpFacts,
  type HttpRequestFacts,
  type HttpRequestInput,
  MethodRejected,
  PathRejected,
} from "./facts.ts";

export { GRAPHQL, graphqlFacts, type GraphqlResult, type GraphqlSources } from "./_graphql.ts";
export { type PathAnomaly, type PathForms, pathForms } from "./_request_forms.ts";

// For protocols carried over HTTP (kubernetes): one exchange, one request head, the connection
// stream and the gateway-made responses, so they share the proxy's parsing and forwarding.
export {
  type After,
  exchange,
  type ExchangeContext,
  type ExchangeOptions,
  type RequestTarget,
} from "./_exchange.ts";
export { type HeadScope, readHead } from "./_read_head.ts";
export { reply, type ReplyShape } from "./_respond.ts";
export { SocketStream } from "./_stream.ts";
export { UpstreamPool } from "./_upstream.ts";
export { headerValues, type RequestHead } from "./_wire.ts";
