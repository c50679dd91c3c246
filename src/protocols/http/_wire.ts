/**
 * A pure, strict HTTP/1.1 message codec (RFC 9112, RFC 9110): heads, body framing, body reading,
 * serialisation and hop-by-hop handling. No sockets; every function is deterministic over bytes.
 *
 * One module for the proxy to import: head parsing lives in `_head.ts`, the chunked coding in
 * `_chunked.ts`, body framing and reading in `_framing.ts`, header fields in `_fields.ts` and
 * serialisation in `_serialize.ts`.
 *
 * @module
 */

export { type ChunkedLimits, chunkFraming, encodeChunk, LAST_CHUNK } from "./_chunked.ts";
export { headerValues, lowerName, stripHopByHop, wantsClose } from "./_fields.ts";
export {
  BodyReader,
  type BodyReaderOptions,
  type Framing,
  requestFraming,
  responseFraming,
} from "./_framing.ts";
export {
  DEFAULT_HEAD_LIMITS,
  type HeadLimits,
  type HttpErrorStatus,
  HttpParseError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
} from "./_head.ts";
export { serializeRequestHead, serializeResponseHead } from "./_serialize.ts";
