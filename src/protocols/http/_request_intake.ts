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

/**
 * Takes the request in, or refuses it (answered, with a receipt). A request whose body came with
 * its head, or that has none, is returned as it is: no promise for the common case.
 */
export function receiveRequest(ex: Exchange): ReceivedRequest | Promise<ReceivedRequest | After> {
  const intake = new RequestIntake(ex.limits);
  const commands: IntakeCommand[] = intake.takeBody(ex.head, {
    upgrades: ex.flavor?.upgrades ?? WEBSOCKET_ONLY,
    summary: requestSummary(ex),
  });
  let stallMs = ex.limits.headerTimeoutMs;
  for (let i = 0; i < commands.length; i++) {
    const c = commands[i];
    if (c.kind === "deadline") stallMs = c.ms;
    else if (c.kind === "unread") ex.client.unread(c.bytes);
    else if (c.kind === "body") return c.request;
    else return receiveRest(ex, intake, commands.slice(i), stallMs);
  }
  return receiveRest(ex, intake, [], stallMs);
}

/** The rest of {@linkcode receiveRequest}: commands that wait, and the body's further reads. */
async function receiveRest(
  ex: Exchange,
  intake: RequestIntake,
  first: IntakeCommand[],
  stallFirst: number,
): Promise<ReceivedRequest | After> {
  let commands = first;
  let stallMs = stallFirst;
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
