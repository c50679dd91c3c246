/**
 * A raw Postgres wire client for tests that need exact control of the bytes (pipelines,
 * malformed frames, cancel requests): the gateway's own encoders and framer, over Deno TCP.
 *
 * @module
 */

// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import { serialize } from "npm:pg-protocol@1.16.1";
import {
  type BackendFrame,
  BackendFramer,
  parseBackendKeyData,
  parseErrorFields,
  parseReadyForQuery,
} from "../src/protocols/postgres/_backend.ts";
import { passwordMessage, startupMessage } from "../src/protocols/postgres/_encode.ts";

export { serialize };

/** FunctionCall for oid 1 with no arguments (pg-protocol has no encoder for it). */
export const FUNCTION_CALL = new Uint8Array([0x46, 0, 0, 0, 14, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);

/** How long a test waits for the next server message before failing (never hang). */
const READ_TIMEOUT_MS = 15_000;

/** A server message, decoded enough for assertions. */
export interface Seen {
  type: string;
  /** SQLSTATE and message for E/N; status for Z. */
  code?: string;
  message?: string;
  status?: string;
  frame: BackendFrame;
}

/** One raw connection. */
export class RawPg {
  readonly conn: Deno.TcpConn;
  readonly #framer = new BackendFramer();
  #buffer = new Uint8Array(64 * 1024);
  key: { pid: number; secret: Uint8Array } | null = null;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Opens a TCP connection without speaking. */
  static async open(port: number): Promise<RawPg> {
    return new RawPg(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  /** Connects and logs in with `password`; resolves after the first ReadyForQuery. */
  static async login(
    port: number,
    user: string,
    password: string,
    database = "app",
  ): Promise<RawPg> {
    const pg = await RawPg.open(port);
    await pg.send(startupMessage([["user", user], ["database", database]]));
    const auth = await pg.next();
    if (auth.type !== "R") throw new Error(`expected an authentication request, got ${auth.type}`);
    await pg.send(passwordMessage(password));
    const seen = await pg.untilReady();
    const key = seen.find((s) => s.type === "K");
    if (key) pg.key = parseBackendKeyData(key.frame.body);
    const error = seen.find((s) => s.type === "E");
    if (error) throw new Error(`login failed: ${error.code} ${error.message}`);
    return pg;
  }

  async send(...parts: Uint8Array[]): Promise<void> {
    for (const p of parts) {
      let off = 0;
      while (off < p.length) off += await this.conn.write(p.subarray(off));
    }
  }

  /** Raw bytes read (for startup answers such as 'S'/'N'); `null` at end of stream. */
  async readRaw(): Promise<Uint8Array | null> {
    const n = await this.conn.read(this.#buffer);
    return n === null ? null : this.#buffer.slice(0, n);
  }

  /** The next server message; throws at end of stream. */
  async next(): Promise<Seen> {
    for (;;) {
      const frame = this.#framer.next();
      if (frame) return describe(frame);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("no server message in time")), READ_TIMEOUT_MS);
      });
      try {
        const n = await Promise.race([this.conn.read(this.#buffer), timeout]);
        if (n === null) throw new ConnectionClosed();
        this.#framer.push(this.#buffer.slice(0, n));
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /** Messages up to and including the next ReadyForQuery. */
  async untilReady(): Promise<Seen[]> {
    const out: Seen[] = [];
    for (;;) {
      const m = await this.next();
      out.push(m);
      if (m.type === "Z") return out;
    }
  }

  /** Messages until the server closes the connection. */
  async untilClosed(): Promise<Seen[]> {
    const out: Seen[] = [];
    for (;;) {
      try {
        out.push(await this.next());
      } catch (err) {
        if (err instanceof ConnectionClosed || err instanceof Deno.errors.ConnectionReset) {
          return out;
        }
        throw err;
      }
    }
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Already closed by the server.
    }
  }
}

class ConnectionClosed extends Error {
  constructor() {
    super("connection closed");
  }
}

function describe(frame: BackendFrame): Seen {
  const type = String.fromCharCode(frame.type);
  if (type === "E" || type === "N") {
    const fields = parseErrorFields(frame.body);
    return { type, code: fields.get("C"), message: fields.get("M"), frame };
  }
  if (type === "Z") return { type, status: parseReadyForQuery(frame.body), frame };
  return { type, frame };
}

/** Types of `seen`, joined: `"E Z 1 2 D C Z"`. */
export function types(seen: Seen[]): string {
  return seen.map((s) => s.type).join(" ");
}
