/**
 * Credential injection as protocols see it (DESIGN.md §2): the gateway composes an
 * {@linkcode HttpInjector} from `credentials/`, which protocols may not import, and hands it to
 * the protocols that ride HTTP (https, kubernetes) through their services.
 *
 * @module
 */

import type { AgentFacts } from "./action.ts";

/** A request as credential injection sees it: the form the proxy will forward. */
export interface HttpRequestParts {
  /** Headers to forward (hop-by-hop, Host and framing headers already removed). */
  headers: [string, string][];
  /** Origin-form target to forward: normalised path plus `?query`. */
  target: string;
  /** The buffered body (a prefix when `bodyTruncated`). */
  body: Uint8Array;
  /** More body bytes stream after `body`; they are never scanned or rewritten. */
  bodyTruncated: boolean;
  contentType?: string;
  /** The method forwarded (canonical upper case): signatures cover it. */
  method?: string;
  /**
   * The `Host` header the gateway forwards (`host`, or `host:port` off the default port): a
   * signature such as AWS SigV4 covers it.
   */
  authority?: string;
}

/** Replaces secrets an upstream echoes back, before the agent sees them. One per response. */
export interface ResponseScrubber {
  /** Bytes safe to send now (a tail that could start a secret is held back). */
  push(chunk: Uint8Array): Uint8Array;
  /** The held-back tail, scrubbed. */
  end(): Uint8Array;
  /** A body that is here in full, scrubbed: instead of `push` and `end`, before either. */
  whole(body: Uint8Array): Uint8Array;
  /** A scrubbed header value. */
  text(value: string): string;
}

/** What the gateway's credentials do for one request. */
export interface HttpCredentialUse {
  /** Credentials whose placeholder appears in the request (names). */
  placeholders: string[];
  /** Placeholders found where they are not substituted (names). */
  misplaced: string[];
  /** Placeholder-shaped texts (`{{…}}`) that name no configured credential, as written. */
  unknown: string[];
  /**
   * Set when the request must be refused before rules: a secret it needs is unavailable, or
   * passthrough traffic carries a placeholder. Agent-facing, never contains a secret.
   */
  refusal: string | null;
  /**
   * The request with secrets swapped in (or signed with them). Only for an allowed request;
   * throws (the gateway answers 502) when that cannot be done.
   */
  apply(): HttpRequestParts | Promise<HttpRequestParts>;
  /** A scrubber for the response, or `null` when the endpoint holds no secrets to scrub. */
  scrubber(): ResponseScrubber | null;
  /** The client certificate to present to the upstream (an mTLS credential), if any. */
  clientCertificate?: ClientCertificate | null;
}

/** A PEM certificate chain and its private key, presented to an upstream during TLS. */
export interface ClientCertificate {
  certPem: string;
  keyPem: string;
}

/**
 * Plans and applies the credentials `agent`'s profile holds on `endpoint` (`null`: passthrough
 * traffic) to one request. Never throws: problems become {@linkcode HttpCredentialUse.refusal}.
 */
export type HttpInjector = (
  agent: AgentFacts,
  endpoint: string | null,
  request: HttpRequestParts,
) => Promise<HttpCredentialUse>;
