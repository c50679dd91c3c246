/**
 * One agent connection's request intake as a sans-io state machine: events in (bytes arrived,
 * the agent ended its stream, the deadline passed), commands out (arm the deadline, write
 * `100 Continue`, refuse, the head, the buffered body, bytes to hand back, close). It reads no
 * socket, runs no timer and records no receipt: its drivers (`_read_head.ts`,
 * `_request_intake.ts`) do, so the protocol logic is tested as transcripts, byte by byte.
 *
 * The pure codecs do the parsing ({@linkcode parseRequestHead}, {@linkcode requestFraming},
 * {@linkcode BodyReader}); the machine only sequences them, with the deadlines and refusals
 * around them.
 *
 * @module
 */

import { EMPTY_BYTES, joinBytes } from "../../core/mod.ts";
import type { HttpProxyLimits } from "./context.ts";
import {
  BodyReader,
  DEFAULT_HEAD_LIMITS,
  type Framing,
  headerValues,
  HttpParseError,
  parseRequestHead,
  requestFraming,
  type RequestHead,
} from "./_wire.ts";

/** What a request whose body stalls is refused with (and its receipt says). */
export const BODY_TIMEOUT = "request body not received in time";

/** A request taken in: its framing and the buffered start of its body. */
export interface ReceivedRequest {
  framing: Framing;
  /** An upgrade the endpoint's protocol relays once the request is allowed. */
  upgrade: boolean;
  /** The body's reader, past the buffered part. */
  body: BodyReader;
  /** The buffered body bytes. */
  buffered: Uint8Array;
  /** What rules read of the body: the buffered bytes, at most the buffer limit. */
  seen: Uint8Array;
  /** The body goes on past the buffered part. */
  truncated: boolean;
}

/**
 * A request the gateway answers itself, before its rules run. The driver records the receipt
 * (`summary`, `receiptReason`) with the guard first, because the reply carries the receipt id.
 */
export interface Refusal {
  status: number;
  /** Machine-readable kind for the agent. */
  error: "bad_request" | "request_timeout";
  /** What the agent is told. */
  reason: string;
  /** What the receipt says was asked. */
  summary: string;
  /** Why, as the receipt records it (the operator's detail). */
  receiptReason: string;
  /** Close the connection after the reply. */
  close: boolean;
}

/** Which wait a deadline bounds. */
export type DeadlineKind = "idle" | "head" | "body";

/**
 * What the driver does, in order. `head`, `body`, `refuse` and `close` are terminal: each ends
 * the intake (or its head part) and comes last. A list without one means "feed the next event".
 *
 * - `deadline`: (re)arm the one deadline, `ms` from now, replacing any earlier one; call
 *   {@linkcode RequestIntake.deadlinePassed} if it passes before the next bytes arrive.
 * - `continue`: write `100 Continue` (a failed write is ignored; the body read will notice).
 * - `unread`: hand `bytes` back to the connection; they belong to whatever is read next.
 * - `head`: a complete request head.
 * - `body`: the request taken in, its body buffered up to the limit.
 * - `refuse`: record the receipt, then answer with the refusal.
 * - `close`: end without an answer and without a receipt (the agent left, or idled out).
 */
export type IntakeCommand =
  | { kind: "deadline"; deadline: DeadlineKind; ms: number }
  | { kind: "continue" }
  | { kind: "unread"; bytes: Uint8Array }
  | { kind: "head"; head: RequestHead }
  | { kind: "body"; request: ReceivedRequest }
  | { kind: "refuse"; refusal: Refusal }
  | { kind: "close" };

/** The limits the intake enforces. */
export type IntakeLimits = Pick<
  HttpProxyLimits,
  "idleTimeoutMs" | "headerTimeoutMs" | "bodyBufferBytes"
>;

/** What {@linkcode RequestIntake.takeBody} needs besides the head. */
export interface BodyIntakeOptions {
  /** Upgrade protocols the endpoint relays (lowercase): `websocket`, `spdy/3.1`. */
  upgrades: readonly string[];
  /** How receipts name the request (`POST api.example.com/v1/x`). */
  summary: string;
}

/** The Expect value the gateway honours (RFC 9110 §10.1.1); any other is refused with 417. */
const EXPECT_CONTINUE = "100-continue";

/** Waiting for the head, head taken (body not started), reading the body, ended. */
type Phase = "new" | "head" | "headed" | "body" | "done";

/** The body being buffered: what {@linkcode RequestIntake.takeBody} settled. */
interface BodyState {
  framing: Framing;
  upgrade: boolean;
  reader: BodyReader;
  chunks: Uint8Array[];
  bytes: number;
  summary: string;
}

/**
 * The intake of one request on an agent connection: its head (the idle and slowloris deadlines,
 * malformed heads refused), then its framing, upgrade, `Expect` and body buffered up to the
 * limit (the rest streams after the decision). Each event returns the commands it causes.
 *
 * @example
 * ```ts
 * const intake = new RequestIntake({ idleTimeoutMs: 60_000, headerTimeoutMs: 10_000, bodyBufferBytes: 1 << 20 });
 * intake.awaitHead(); // [{ kind: "deadline", deadline: "idle", ms: 60000 }]
 * intake.chunk(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
 * // [{ kind: "deadline", deadline: "head", ms: 10000 }, { kind: "head", head: … }]
 * ```
 */
export class RequestIntake {
  readonly #limits: IntakeLimits;
  #phase: Phase = "new";
  /** The head so far: `#buf.subarray(0, #len)`, grown by doubling so a trickle costs O(n). */
  #buf: Uint8Array = EMPTY_BYTES;
  #len = 0;
  #body: BodyState | null = null;

  /** Creates an intake that enforces `limits`. */
  constructor(limits: IntakeLimits) {
    this.#limits = limits;
  }

  /** True once the intake ended (refused, closed, or the body was handed over). */
  get done(): boolean {
    return this.#phase === "done";
  }

  /** Starts waiting for a head: the connection may sit idle until the first byte. */
  awaitHead(): IntakeCommand[] {
    this.#expect("new", "await a head");
    this.#phase = "head";
    return [{ kind: "deadline", deadline: "idle", ms: this.#limits.idleTimeoutMs }];
  }

  /**
   * Settles how `head`'s body is framed (the one this intake read, or one read elsewhere), then
   * buffers the body. Refuses ambiguous framing, an upgrade with a body and an unsupported Expect.
   */
  takeBody(head: RequestHead, options: BodyIntakeOptions): IntakeCommand[] {
    if (this.#phase !== "headed") this.#expect("new", "take a body");
    let framing: Framing;
    try {
      framing = requestFraming(head);
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      return this.#refuse(requestRefusal(err.status, err.message, options.summary));
    }
    const upgrade = isUpgrade(head, options.upgrades);
    // kubectl's SPDY exec is a POST with `Content-Length: 0`: no body, so nothing to smuggle.
    if (upgrade && framing.kind === "length" && framing.length === 0) framing = { kind: "none" };
    if (upgrade && framing.kind !== "none") {
      return this.#refuse(requestRefusal(400, "Upgrade request with a body", options.summary));
    }
    const out: IntakeCommand[] = [];
    const expect = headerValues(head.headers, "expect");
    if (expect.length > 0) {
      if (expect.length > 1 || expect[0].toLowerCase() !== EXPECT_CONTINUE) {
        return this.#refuse(requestRefusal(417, "Unsupported Expect", options.summary));
      }
      // The gateway decides on the body, so it asks for it instead of passing the wait upstream;
      // HTTP/1.0 has no 100 responses, so there the expectation is ignored (RFC 9110 §10.1.1).
      if (framing.kind !== "none" && head.version !== "HTTP/1.0") out.push({ kind: "continue" });
    }
    const reader = new BodyReader(framing);
    this.#body = { framing, upgrade, reader, chunks: [], bytes: 0, summary: options.summary };
    this.#phase = "body";
    out.push(...this.#bodyNext());
    return out;
  }

  /** Bytes arrived from the agent. */
  chunk(bytes: Uint8Array): IntakeCommand[] {
    if (this.#phase === "body") return this.#bodyChunk(bytes);
    this.#expect("head", "take bytes");
    return this.#headChunk(bytes);
  }

  /** The agent ended its stream: whatever was started stays unanswered, with no receipt. */
  agentEnded(): IntakeCommand[] {
    if (this.#phase !== "body") this.#expect("head", "take the end of the stream");
    this.#phase = "done";
    return [{ kind: "close" }];
  }

  /** The last deadline armed passed before the bytes it waited for. */
  deadlinePassed(): IntakeCommand[] {
    if (this.#phase === "body") {
      return this.#refuse(requestRefusal(408, BODY_TIMEOUT, this.#body!.summary));
    }
    this.#expect("head", "take a deadline");
    // Nothing received: a kept-alive connection idled out, which needs no answer.
    if (this.#len === 0) {
      this.#phase = "done";
      return [{ kind: "close" }];
    }
    return this.#refuse({
      status: 408,
      error: "request_timeout",
      reason: "request head not received in time",
      summary: "incomplete request head",
      receiptReason: "request head not received in time",
      close: true,
    });
  }

  #headChunk(bytes: Uint8Array): IntakeCommand[] {
    const out: IntakeCommand[] = [];
    // The head deadline runs from its first byte, across reads: a trickle cannot extend it.
    if (this.#len === 0) {
      out.push({ kind: "deadline", deadline: "head", ms: this.#limits.headerTimeoutMs });
    }
    // The terminator search resumes at the new bytes instead of rescanning the whole head per
    // read (whether an LF ends the head depends only on the bytes before it).
    const scanFrom = this.#len;
    // A head that arrives whole in one read (the usual case) is parsed where it lies: the chunk
    // is the agent's and never written again, so copying it would only cost an allocation.
    const buf = this.#len === 0 ? bytes : this.#append(bytes);
    let head: RequestHead | null;
    try {
      head = parseRequestHead(buf, DEFAULT_HEAD_LIMITS, scanFrom);
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      out.push(...this.#refuse({
        status: err.status,
        error: "bad_request",
        reason: err.message,
        summary: "malformed request",
        receiptReason: `malformed request: ${err.message}`,
        close: true,
      }));
      return out;
    }
    if (head === null) {
      if (buf === bytes) this.#append(bytes);
      return out;
    }
    // Bytes past the head are its body or the next pipelined request: not the head's to take.
    if (head.headBytes < buf.length) {
      // A view: the buffer is dropped below, never written again.
      out.push({ kind: "unread", bytes: buf.subarray(head.headBytes) });
    }
    this.#buf = EMPTY_BYTES;
    this.#len = 0;
    this.#phase = "headed";
    out.push({ kind: "head", head });
    return out;
  }

  /** Appends `bytes` to the head so far; returns the head's bytes. */
  #append(bytes: Uint8Array): Uint8Array {
    const need = this.#len + bytes.length;
    if (need > this.#buf.length) {
      const grown = new Uint8Array(Math.max(need, this.#buf.length * 2, 1024));
      grown.set(this.#buf.subarray(0, this.#len));
      this.#buf = grown;
    }
    this.#buf.set(bytes, this.#len);
    this.#len = need;
    return this.#buf.subarray(0, this.#len);
  }

  #bodyChunk(bytes: Uint8Array): IntakeCommand[] {
    const body = this.#body!;
    let r;
    try {
      r = body.reader.push(bytes);
    } catch (err) {
      const e = err instanceof HttpParseError ? err : null;
      return this.#refuse(
        requestRefusal(e?.status ?? 400, e?.message ?? "malformed request body", body.summary),
      );
    }
    for (const d of r.data) {
      body.chunks.push(d);
      body.bytes += d.length;
    }
    const out: IntakeCommand[] = [];
    // Past the body: the next pipelined request, left for the next exchange.
    if (r.consumed < bytes.length) {
      out.push({ kind: "unread", bytes: bytes.subarray(r.consumed) });
    }
    out.push(...this.#bodyNext());
    return out;
  }

  /** Another read while the body goes on below the buffer limit, else the request taken in. */
  #bodyNext(): IntakeCommand[] {
    const { framing, upgrade, reader, chunks, bytes } = this.#body!;
    const limit = this.#limits.bodyBufferBytes;
    if (!reader.done && bytes < limit) {
      // Each read gets the full stall time: a slow body is fine, a stalled one is not.
      return [{ kind: "deadline", deadline: "body", ms: this.#limits.headerTimeoutMs }];
    }
    this.#phase = "done";
    const buffered = joinBytes(chunks);
    const seen = buffered.length > limit ? buffered.subarray(0, limit) : buffered;
    const request = { framing, upgrade, body: reader, buffered, seen, truncated: !reader.done };
    return [{ kind: "body", request }];
  }

  #refuse(refusal: Refusal): IntakeCommand[] {
    this.#phase = "done";
    return [{ kind: "refuse", refusal }];
  }

  #expect(phase: Phase, action: string): void {
    if (this.#phase !== phase) {
      throw new TypeError(`Cannot ${action}: the request intake is '${this.#phase}'`);
    }
  }
}

/**
 * A refusal of a request whose head was read: `status` (400, 408, 417, 501, …) and `message`
 * go to the agent and the receipt alike, named by `summary`; the connection closes after it
 * unless `close` is false.
 *
 * @example
 * ```ts
 * requestRefusal(417, "Unsupported Expect", "PUT h/x");
 * // { status: 417, error: "bad_request", reason: "Unsupported Expect", summary: "PUT h/x", … }
 * ```
 */
export function requestRefusal(
  status: number,
  message: string,
  summary: string,
  close = true,
): Refusal {
  return {
    status,
    error: status === 408 ? "request_timeout" : "bad_request",
    reason: message,
    summary,
    receiptReason: message,
    close,
  };
}

/**
 * An upgrade the endpoint's protocol relays (WebSocket; SPDY/3.1 for Kubernetes exec). Other
 * upgrades (h2c above all) are not relayed: after a 101 the gateway passes bytes through
 * undecided, so only a protocol whose opening request was decided may follow. Their Upgrade
 * header is dropped as hop-by-hop and the request goes on as plain HTTP.
 */
function isUpgrade(head: RequestHead, allowed: readonly string[]): boolean {
  const upgrade = headerValues(head.headers, "upgrade");
  if (upgrade.length !== 1 || !allowed.includes(upgrade[0].trim().toLowerCase())) return false;
  return headerValues(head.headers, "connection").some((v) =>
    v.split(",").some((t) => t.trim().toLowerCase() === "upgrade")
  );
}
