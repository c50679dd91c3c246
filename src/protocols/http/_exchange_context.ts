/**
 * What one exchange works with: where its request goes, what it needs from the gateway, and the
 * values every step of it shares, read once when it starts.
 *
 * @module
 */

import type { AgentFacts, ProtocolFamily, SessionActions } from "../../core/mod.ts";
import type {
  ExchangeFlavor,
  HttpEndpointRoute,
  HttpProxyContext,
  HttpProxyLimits,
} from "./context.ts";
import type { ReplyShape } from "./_respond.ts";
import type { SocketStream } from "./_stream.ts";
import type { ReportScope } from "./_upstream_report.ts";
import type { RequestHead } from "./_wire.ts";

/** Where one request goes, as established by the connection (CONNECT target or absolute URL). */
export interface RequestTarget {
  agent: AgentFacts;
  scheme: "http" | "https";
  host: string;
  port: number;
  /** Origin-form target to normalise (`/path?query`). */
  target: string;
  /** The endpoint whose rules decide, or `null` for passthrough (no rules, `pass()`). */
  endpoint: HttpEndpointRoute | null;
}

/**
 * What one exchange needs from the gateway (a subset of the proxy's context). No guard: an
 * exchange decides, refuses and reports through its connection's ledger (`actions`), so every
 * action it takes is completed when the connection ends, whatever ends it.
 */
export type ExchangeContext = Pick<
  HttpProxyContext,
  "limits" | "log" | "credentials" | "upstreamFailed" | "upstreamRetried"
>;

/** Whether the agent connection can carry another request after this one. */
export type After = "keep" | "close";

/** One exchange in progress: its request and connection, and what its steps share. */
export interface Exchange {
  readonly client: SocketStream;
  readonly head: RequestHead;
  readonly req: RequestTarget;
  readonly ctx: ExchangeContext;
  /** The connection's ledger: the exchange's decision, refusal and outcome go through it. */
  readonly actions: SessionActions;
  /** The limits in force when the exchange started. */
  readonly limits: HttpProxyLimits;
  /** Set when the endpoint speaks another HTTP-based protocol (Kubernetes). */
  readonly flavor: ExchangeFlavor | undefined;
  /** The action's protocol: the flavor's, else `https`. */
  readonly protocol: ProtocolFamily;
  /** Body shape of the gateway's own answers (`undefined`: its JSON). */
  readonly shape: ReplyShape | undefined;
  /** The agent asked to close the connection after this exchange. */
  readonly clientClose: boolean;
}

/** Who an upstream failure or retry of this exchange is reported for. */
export function reportScope(ex: Exchange): ReportScope {
  return {
    protocol: ex.protocol,
    endpoint: ex.req.endpoint?.name ?? null,
    agent: ex.req.agent.name,
  };
}
