/**
 * The server-to-agent direction: bytes pass through untouched (no per-message copies for
 * DataRow streams) while the relay watches message boundaries for ReadyForQuery and
 * ErrorResponse, and swaps the upstream's answer to a gateway-injected probe for the gateway's
 * own denial.
 *
 * @module
 */

import { joinBytes } from "../../core/mod.ts";
import { parseErrorFields, parseParameterStatus } from "./_backend.ts";
import { ProtocolError } from "./_frontend.ts";

const ERROR = 0x45; // 'E'
const READY = 0x5a; // 'Z'
const PARAMETER_STATUS = 0x53; // 'S'
/** Servers never send messages this large; a length beyond it means the stream is corrupt. */
const MAX_BACKEND_MESSAGE = 1 << 30;

/** An ErrorResponse to put in place of the upstream's answer to a denial probe. */
export interface Replacement {
  /** Bytes that appear only in the upstream's error for this probe (the probe's name). */
  marker: string;
  /** The gateway's ErrorResponse, sent instead. */
  frame: Uint8Array;
}

/** What the relay reports to the session. */
export interface RelayHooks {
  /** The replacement expected before the next ReadyForQuery, if any. */
  pending(): Replacement | null;
  /** The pending replacement was used (or the probe's error otherwise answered). */
  replaced(): void;
  /** A ReadyForQuery passed, with the transaction status it reported. */
  ready(status: "I" | "T" | "E"): void;
  /** An ErrorResponse passed (or was replaced), with its SQLSTATE. */
  error(code: string): void;
  /** A ParameterStatus passed (the server reports a setting changed). */
  parameter?(name: string, value: string): void;
}

/** Scans server bytes frame by frame; returns what to send to the agent. */
export class BackendRelay {
  readonly #hooks: RelayHooks;
  readonly #header = new Uint8Array(5);
  #headerLength = 0;
  /** The first bytes of a split header were held back (a replacement was pending). */
  #headerDeferred = false;
  #type = 0;
  #remaining = 0;
  /** Body parts of a frame the relay reads (ErrorResponse, ParameterStatus). */
  #body: Uint8Array[] | null = null;
  /** A ReadyForQuery's status byte, read as it passes (-1: none yet). */
  #status = -1;
  /** The parts of one push's answer, reused: most pushes forward their chunk whole. */
  readonly #out: Uint8Array[] = [];
  /** The current frame is held back until it is known whether it gets replaced. */
  #holding = false;
  /** The bytes returned so far end inside a frame. */
  #midFrame = false;

  constructor(hooks: RelayHooks) {
    this.#hooks = hooks;
  }

  /**
   * Whether the bytes returned so far end on a frame boundary, so the gateway may add a frame of
   * its own (a FATAL error) without garbling the stream the agent reads.
   */
  get atBoundary(): boolean {
    return !this.#midFrame;
  }

  /** Feeds server bytes; returns the bytes to forward (usually `chunk` itself). */
  push(chunk: Uint8Array): Uint8Array {
    const out = this.#out;
    out.length = 0;
    // Start of the range of `chunk` still to forward; -1 while a held frame swallows bytes.
    let from = this.#holding ? -1 : 0;
    // Where the current header began in this chunk; -1 when it began in an earlier chunk.
    let frameStart = -1;
    let i = 0;
    while (i < chunk.length) {
      if (this.#headerLength < 5) {
        if (this.#headerLength === 0) frameStart = i;
        // Byte by byte: a view of the chunk per header would be an allocation per frame.
        const h = this.#header;
        while (this.#headerLength < 5 && i < chunk.length) h[this.#headerLength++] = chunk[i++];
        if (this.#headerLength < 5) break;
        const start = this.#startFrame(frameStart >= 0);
        if (start !== "forward") {
          // What preceded the header goes out; the header is held, or sent whole now.
          if (from >= 0 && frameStart > from) out.push(chunk.subarray(from, frameStart));
          if (start === "hold") from = -1;
          else {
            out.push(this.#header.slice());
            from = i;
          }
        }
        if (this.#remaining === 0) from = this.#endFrame(out, from, i);
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - i);
      if (this.#type === READY) {
        if (this.#status < 0) this.#status = chunk[i];
      } else this.#body?.push(chunk.subarray(i, i + take));
      i += take;
      this.#remaining -= take;
      if (this.#remaining === 0) from = this.#endFrame(out, from, i);
    }
    if (from >= 0) {
      let end = chunk.length;
      const splitHeader = this.#headerLength > 0 && this.#headerLength < 5;
      if (splitHeader && frameStart >= 0 && this.#hooks.pending() !== null) {
        // Hold a split header's first bytes back while a replacement is pending, so the
        // frame can still be swapped whole.
        end = frameStart;
        this.#headerDeferred = true;
      } else if (splitHeader && frameStart < 0 && this.#headerDeferred) {
        end = from; // More bytes of a header already held back.
      }
      if (end > from) {
        if (from === 0 && end === chunk.length && out.length === 0) return this.#forwarded(chunk);
        out.push(chunk.subarray(from, end));
      }
    }
    const result = out.length === 1 ? out[0] : joinBytes(out);
    out.length = 0;
    return this.#forwarded(result);
  }

  /** What one push returns; whether it ends mid-frame is noted for `atBoundary`. */
  #forwarded(bytes: Uint8Array): Uint8Array {
    // A held frame or held-back header was not returned: only a frame being forwarded counts.
    this.#midFrame = this.#headerLength > 0 && !this.#holding && !this.#headerDeferred;
    return bytes;
  }

  /**
   * A header completed (`inChunk`: it began in the chunk being pushed). Returns what happens to
   * its bytes: `hold` the frame until it is known whether it gets replaced, `resend` the
   * held-back header whole (this chunk's share of it is not sent again), or `forward` as they
   * come.
   */
  #startFrame(inChunk: boolean): "hold" | "resend" | "forward" {
    const h = this.#header;
    this.#type = h[0];
    const length = ((h[1] << 24) | (h[2] << 16) | (h[3] << 8) | h[4]) >>> 0;
    if (length < 4 || length > MAX_BACKEND_MESSAGE) {
      throw new ProtocolError(`server sent a message with invalid length ${length}`, "08P01");
    }
    this.#remaining = length - 4;
    // A header whose first bytes were already forwarded can no longer be swapped.
    const headerUnsent = inChunk || this.#headerDeferred;
    const deferred = this.#headerDeferred;
    this.#headerDeferred = false;
    this.#holding = this.#type === ERROR && headerUnsent && this.#hooks.pending() !== null;
    const t = this.#type;
    this.#body = this.#holding || t === ERROR || t === PARAMETER_STATUS ? [] : null;
    this.#status = -1;
    if (this.#holding) return "hold";
    return deferred ? "resend" : "forward";
  }

  /** A frame completed at `i`; returns where forwarding resumes. */
  #endFrame(out: Uint8Array[], from: number, i: number): number {
    this.#headerLength = 0;
    if (this.#type === READY) {
      const status = this.#status;
      this.#hooks.ready(status === 0x54 ? "T" : status === 0x45 ? "E" : "I");
      return from;
    }
    const body = this.#body ? joinBytes(this.#body) : null;
    this.#body = null;
    if (this.#type === PARAMETER_STATUS && body) {
      const [name, value] = parseParameterStatus(body);
      this.#hooks.parameter?.(name, value);
      return from;
    }
    if (this.#type !== ERROR || !body) return from;
    const fields = parseErrorFields(body);
    this.#hooks.error(fields.get("C") ?? "XX000");
    if (!this.#holding) return from;
    this.#holding = false;
    const replacement = this.#hooks.pending();
    if (replacement && (fields.get("M") ?? "").includes(replacement.marker)) {
      this.#hooks.replaced();
      out.push(replacement.frame);
    } else {
      out.push(this.#header.slice(), body);
    }
    return i;
  }
}
