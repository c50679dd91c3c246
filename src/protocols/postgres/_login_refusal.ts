/**
 * How a connection that never reached its session ends: every refused or failed login is a FATAL
 * ErrorResponse the client understands, with a receipt (a client that merely hangs up during
 * startup, as psql does to ask for a password, is routine and gets none).
 *
 * @module
 */

import type { Socket } from "node:net";
import type { AgentFacts, SessionActions } from "../../core/mod.ts";
import type { PostgresContext } from "./context.ts";
import { ProtocolError } from "./_frontend.ts";
import { errorResponse } from "./_backend.ts";
import { StartupAborted } from "./_reader.ts";
import { StartupRefused } from "./_startup.ts";
import { UpstreamError, upstreamMessage } from "./_upstream.ts";

/** Where a login is refused: the endpoint's receipts and log. */
export interface LoginScope {
  endpoint: string;
  actions: Pick<SessionActions, "refuse">;
  log: PostgresContext["log"];
}

/** A refused login: who tried (as which `user`), and the FATAL error they are sent. */
export interface LoginRefused {
  agent: AgentFacts | null;
  code: string;
  reason: string;
  /** The user the agent asked for, named in the receipt's summary. @default {""} */
  user?: string;
}

/** A startup setting a rule denied: the receipt is already written. */
export class StartupDenied extends Error {
  constructor(readonly text: { message: string; detail: string; hint?: string }) {
    super(text.message);
  }
}

/**
 * Ends `socket` after its startup failed with `err`, answering and recording as the failure
 * deserves; `who` is whoever the startup had identified by then.
 */
export function startupFailed(
  scope: LoginScope,
  socket: Socket,
  err: unknown,
  who: { agent?: AgentFacts | null; user?: string } = {},
): void {
  const agent = who.agent ?? null;
  const user = who.user ?? "";
  if (err instanceof StartupAborted) return startupAborted(scope, socket, err, agent);
  if (err instanceof StartupRefused) {
    const refusal = { agent: err.agent ?? agent, code: err.code, reason: err.message };
    return refuseLogin(scope, socket, { ...refusal, user: err.user || user });
  }
  if (err instanceof StartupDenied) {
    socket.end(
      errorResponse({ severity: "FATAL", code: "42501", ...err.text }),
      () => socket.destroy(),
    );
    return;
  }
  if (err instanceof ProtocolError) {
    return refuseLogin(scope, socket, { agent, code: err.code, reason: err.message, user });
  }
  if (err instanceof UpstreamError) {
    scope.log("warn", `postgres upstream login failed: ${err.message}`, {
      endpoint: scope.endpoint,
      kind: err.kind,
    });
    const reason = upstreamMessage(err);
    return refuseLogin(scope, socket, { agent, code: err.sqlstate, reason, user });
  }
  scope.log("error", `postgres startup failed: ${(err as Error)?.stack ?? err}`);
  refuseLogin(scope, socket, { agent, code: "XX000", reason: "internal gateway error", user });
}

/** A client that hung up (routine), stalled or garbled its handshake (worth a receipt). */
function startupAborted(
  scope: LoginScope,
  socket: Socket,
  err: StartupAborted,
  agent: AgentFacts | null,
): void {
  if (err.why !== "closed") {
    scope.actions.refuse({
      protocol: "postgres",
      endpoint: scope.endpoint,
      agent,
      summary: "startup",
      reason: err.message,
    });
    if (err.why === "timeout") {
      socket.end(errorResponse({ severity: "FATAL", code: "08P01", message: err.message }));
    }
  }
  socket.destroy();
}

/** Records the refusal and sends it as a FATAL error, then closes. */
export function refuseLogin(scope: LoginScope, socket: Socket, refusal: LoginRefused): void {
  const { agent, code, reason, user = "" } = refusal;
  const receipt = scope.actions.refuse({
    protocol: "postgres",
    endpoint: scope.endpoint,
    agent,
    summary: user ? `login as ${user}` : "login",
    reason,
  });
  const detail = receipt ? `receipt ${receipt}` : undefined;
  if (!socket.destroyed) {
    socket.end(
      errorResponse({ severity: "FATAL", code, message: reason, detail }),
      () => socket.destroy(),
    );
  }
}
