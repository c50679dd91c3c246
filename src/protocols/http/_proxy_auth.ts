/**
 * Proxy authentication: which enrolled agent a request to the proxy comes from
 * (`Proxy-Authorization: Basic NAME:TOKEN`), and the `407` challenge when none does.
 *
 * @module
 */

import type { AgentFacts, SessionActions } from "../../core/mod.ts";
import type { HttpProxyContext } from "./context.ts";
import { reply } from "./_respond.ts";
import type { SocketStream } from "./_stream.ts";
import { basicCredentials } from "./_target.ts";
import { headerValues, type RequestHead } from "./_wire.ts";

/** Reason given to an agent without valid proxy credentials. */
export const PROXY_AUTH_REQUIRED = "proxy authentication required: NAME:TOKEN of an enrolled agent";

/** An authenticated agent and the credentials it presented (re-checked on every request). */
export interface ProxyAuth {
  agent: AgentFacts;
  name: string;
  token: string;
}

/** The agent `head`'s proxy credentials name, or `null` when absent, malformed or wrong. */
export function authenticate(
  ctx: Pick<HttpProxyContext, "authenticate">,
  head: RequestHead,
): ProxyAuth | null {
  const creds = basicCredentials(headerValues(head.headers, "proxy-authorization"));
  if (!creds) return null;
  const agent = ctx.authenticate(creds.name, creds.token);
  return agent ? { agent, ...creds } : null;
}

/**
 * Answers `407` with a Basic challenge, after a receipt for the refused request (through the
 * connection's `actions`).
 */
export async function challenge(
  client: SocketStream,
  actions: Pick<SessionActions, "refuse">,
  summary: string,
): Promise<void> {
  const receipt = actions.refuse({
    protocol: "https",
    endpoint: null,
    agent: null,
    summary,
    reason: PROXY_AUTH_REQUIRED,
  });
  await reply(client, {
    status: 407,
    error: "proxy_authentication_required",
    reason: PROXY_AUTH_REQUIRED,
    receipt,
    close: true,
    headers: [["Proxy-Authenticate", 'Basic realm="clawpatrol"']],
  });
}
