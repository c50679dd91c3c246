/**
 * Reading one request head off an agent connection, with the idle and slowloris deadlines and
 * the protocol's own error shape; shared by the forward proxy and the Kubernetes listener. The
 * driver of {@linkcode RequestIntake}'s head part: it reads, runs the deadline and answers.
 *
 * @module
 */

import type { AgentFacts, ProtocolFamily, SessionActions } from "../../core/mod.ts";
import type { HttpProxyContext } from "./context.ts";
import { answerRefusal } from "./_request_refusal.ts";
import type { ReplyShape } from "./_respond.ts";
import type { SocketStream } from "./_stream.ts";
import type { RequestHead } from "./_wire.ts";
import { type IntakeCommand, RequestIntake } from "./session.ts";
import { type Deadline, deadline } from "../../core/deadlines.ts";

/** Whose receipts and which error shape a connection's head errors get. */
export interface HeadScope {
  protocol: ProtocolFamily;
  endpoint: string | null;
  shape?: ReplyShape;
}

const PROXY_SCOPE: HeadScope = { protocol: "https", endpoint: null };

/** The connection a head is read on: its limits, and its ledger for refusals. */
export interface HeadConnection {
  readonly ctx: Pick<HttpProxyContext, "limits">;
  readonly actions: Pick<SessionActions, "refuse">;
}

/**
 * Reads one request head: the connection may idle (kept alive) up to `idleTimeoutMs` before
 * the first byte, then has `headerTimeoutMs` to finish the head (slow clients are cut off).
 * Returns `null` when the connection ended or idled out; answers parse errors itself.
 */
export async function readHead(
  client: SocketStream,
  conn: HeadConnection,
  agent: AgentFacts | null,
  scope: HeadScope = PROXY_SCOPE,
): Promise<RequestHead | null> {
  const intake = new RequestIntake(conn.ctx.limits());
  let timer: Deadline | undefined;
  let expired = false;
  const arm = (ms: number) => {
    timer?.cancel();
    timer = deadline(ms, () => {
      expired = true;
      client.wakeWithTimeout();
    });
  };
  try {
    let commands: IntakeCommand[] = intake.awaitHead();
    for (;;) {
      for (const c of commands) {
        switch (c.kind) {
          case "deadline":
            arm(c.ms);
            break;
          case "unread":
            client.unread(c.bytes);
            break;
          case "head":
            return c.head;
          case "close":
            return null;
          case "refuse":
            await answerRefusal(client, conn.actions, { ...scope, agent }, c.refusal);
            return null;
          default:
            throw new TypeError(`Unexpected request intake command '${c.kind}' before a head`);
        }
      }
      const chunk = await client.read();
      // A deadline wakes the read with `null`: it passed, whatever the read returned.
      if (expired) commands = intake.deadlinePassed();
      else if (chunk === null) commands = intake.agentEnded();
      else commands = intake.chunk(chunk);
    }
  } finally {
    timer?.cancel();
  }
}
