/**
 * Taking a request in before it is decided: how its body is framed, whether it is an upgrade the
 * endpoint may relay, `Expect: 100-continue`, and its body buffered up to the limit for rules to
 * read (the rest streams upstream after the decision). The driver of {@linkcode RequestIntake}'s
 * body part: it reads with the stall deadline, writes `100 Continue` and answers refusals.
 *
 * @module
 */

import type { After, Exchange } from "./_exchange_context.ts";
import { refuseRequest, requestSummary } from "./_request_refusal.ts";
import { CONTINUE } from "./_respond.ts";
import { readWithin } from "./_upstream_retry.ts";
import { type IntakeCommand, type ReceivedRequest, RequestIntake } from "./session.ts";

export type { ReceivedRequest } from "./session.ts";

const WEBSOCKET_ONLY = ["websocket"];

/** Takes the request in, or refuses it (answered, with a receipt). */
export async function receiveRequest(ex: Exchange): Promise<ReceivedRequest | After> {
  const intake = new RequestIntake(ex.limits);
  let commands: IntakeCommand[] = intake.takeBody(ex.head, {
    upgrades: ex.flavor?.upgrades ?? WEBSOCKET_ONLY,
    summary: requestSummary(ex),
  });
  let stallMs = ex.limits.headerTimeoutMs;
  for (;;) {
    for (const c of commands) {
      switch (c.kind) {
        case "deadline":
          stallMs = c.ms;
          break;
        case "continue":
          await ex.client.write(CONTINUE).catch(() => {});
          break;
        case "unread":
          ex.client.unread(c.bytes);
          break;
        case "body":
          return c.request;
        case "refuse":
          return await refuseRequest(ex, c.refusal);
        case "close":
          return "close"; // The agent gave up before the request was complete.
        default:
          throw new TypeError(`Unexpected request intake command '${c.kind}' for a body`);
      }
    }
    const chunk = await readWithin(ex.client, stallMs);
    if (chunk === "timeout") commands = intake.deadlinePassed();
    else if (chunk === null) commands = intake.agentEnded();
    else commands = intake.chunk(chunk);
  }
}
