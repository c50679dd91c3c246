/**
 * The transcript harness of the request intake's tests (mitmproxy's Playbook): events in (`>`),
 * commands out (`<`), no socket.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { type IntakeCommand, type IntakeLimits, RequestIntake } from "./session.ts";
import { parseRequestHead, type RequestHead } from "./_wire.ts";

export const LIMITS: IntakeLimits = {
  idleTimeoutMs: 5000,
  headerTimeoutMs: 200,
  bodyBufferBytes: 16,
};
export const WEBSOCKET_ONLY = ["websocket"];
export const KUBERNETES = ["websocket", "spdy/3.1"];
export const SUMMARY = "POST api.example.com/upload";

export function bytes(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function text(b: Uint8Array): string {
  return String.fromCharCode(...b);
}

export function headOf(s: string): RequestHead {
  const head = parseRequestHead(bytes(s));
  if (head === null) throw new Error(`Incomplete head: ${JSON.stringify(s)}`);
  return head;
}

/** One line per command, with everything a driver acts on. */
export function show(c: IntakeCommand): string {
  switch (c.kind) {
    case "deadline":
      return `< deadline ${c.deadline} ${c.ms}ms`;
    case "continue":
      return "< continue";
    case "unread":
      return `< unread ${JSON.stringify(text(c.bytes))}`;
    case "head":
      return `< head ${c.head.method} ${c.head.target} ${c.head.version}`;
    case "body": {
      const r = c.request;
      const framing = r.framing.kind === "length" ? `length:${r.framing.length}` : r.framing.kind;
      return `< body ${framing}${r.upgrade ? " upgrade" : ""} buffered ${
        JSON.stringify(text(r.buffered))
      } seen ${JSON.stringify(text(r.seen))} ${r.truncated ? "truncated" : "complete"}`;
    }
    case "refuse": {
      const r = c.refusal;
      return `< refuse ${r.status} ${r.error} ${JSON.stringify(r.reason)} receipt ${
        JSON.stringify(r.summary)
      }: ${JSON.stringify(r.receiptReason)}${r.close ? " close" : ""}`;
    }
    case "close":
      return "< close";
  }
}

/** Drives one intake and keeps the transcript; `last` holds the commands of the last event. */
export class Playbook {
  readonly intake: RequestIntake;
  readonly log: string[] = [];
  last: IntakeCommand[] = [];

  constructor(limits: IntakeLimits = LIMITS) {
    this.intake = new RequestIntake(limits);
  }

  awaitHead(): this {
    return this.#note("> await head", this.intake.awaitHead());
  }

  takeBody(head: RequestHead | string, upgrades: readonly string[] = WEBSOCKET_ONLY): this {
    const h = typeof head === "string" ? headOf(head) : head;
    return this.#note("> take body", this.intake.takeBody(h, { upgrades, summary: SUMMARY }));
  }

  bytes(b: Uint8Array | string): this {
    const chunk = typeof b === "string" ? bytes(b) : b;
    return this.#note(`> ${chunk.length} bytes`, this.intake.chunk(chunk));
  }

  end(): this {
    return this.#note("> end", this.intake.agentEnded());
  }

  deadline(): this {
    return this.#note("> deadline passed", this.intake.deadlinePassed());
  }

  /** The single command of `kind` in the last event's commands. */
  only<K extends IntakeCommand["kind"]>(kind: K): Extract<IntakeCommand, { kind: K }> {
    const found = this.last.filter((c) => c.kind === kind);
    equal(found.length, 1, `one '${kind}' command in ${JSON.stringify(this.last.map(show))}`);
    return found[0] as Extract<IntakeCommand, { kind: K }>;
  }

  #note(event: string, commands: IntakeCommand[]): this {
    this.last = commands;
    this.log.push(event, ...commands.map(show));
    return this;
  }
}

export const GET = "GET /a?x=1 HTTP/1.1\r\nHost: api.example.com\r\nAccept: */*\r\n\r\n";
export const GET_B = "GET /b HTTP/1.1\r\nHost: api.example.com\r\n\r\n";
