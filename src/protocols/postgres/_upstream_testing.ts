/**
 * Shared by the connectUpstream() tests: targets and logins, a minimal simple-Query client over
 * a handed-over session, and an assertion on UpstreamError.
 *
 * @module
 */

import { equal, ok, rejects } from "node:assert/strict";
import type { Socket } from "node:net";
import { concatBytes } from "../../core/mod.ts";
import { type PgCluster, startPostgres } from "../../../tests/_postgres.ts";
import {
  UpstreamError,
  type UpstreamErrorKind,
  type UpstreamSession,
  type UpstreamTarget,
} from "./_upstream.ts";
import { netServices } from "../../net/mod.ts";

/** The gateway's sockets, as the listener hands them to the upstream login. */
const NET = netServices();

/** The SCRAM user the tests add to their clusters. */
export const USER = "agent_scram";
// Non-ASCII and a mapped-to-nothing character: both sides must apply the same SASLprep.
export const PASSWORD = "p\u00e4ss\u00adw\u00f6rd-ok";

/** A plain-TCP target on `pg`'s port, `extra` overriding. */
export function target(pg: { port: number }, extra: Partial<UpstreamTarget> = {}): UpstreamTarget {
  return {
    host: "127.0.0.1",
    port: pg.port,
    sslmode: "disable",
    connectTimeoutMs: 5000,
    net: NET,
    ...extra,
  };
}

/** Login details for `user` on `database`, without extra parameters. */
export function login(user = USER, password = PASSWORD, database = "postgres") {
  return { user, password, database, params: [] as [string, string][] };
}

/** Result of one simple Query sent over the raw session socket. */
export interface QueryResult {
  rows: string[][];
  sqlstate?: string;
  status: string;
}

/** Sends a Query and reads to ReadyForQuery with a private framing loop, then pauses again. */
export function query(session: UpstreamSession, sql: string): Promise<QueryResult> {
  const { socket } = session;
  const text = new TextEncoder().encode(`${sql}\0`);
  const msg = new Uint8Array(5 + text.length);
  msg[0] = 0x51; // 'Q'
  new DataView(msg.buffer).setInt32(1, 4 + text.length);
  msg.set(text, 5);
  return new Promise((resolve, reject) => {
    let buf = session.pending;
    session.pending = new Uint8Array(0);
    const result: QueryResult = { rows: [], status: "" };
    const onData = (chunk: Uint8Array) => {
      buf = concatBytes([buf, chunk]);
      while (buf.length >= 5) {
        const view = new DataView(buf.buffer, buf.byteOffset);
        const length = view.getInt32(1);
        if (buf.length < length + 1) return;
        const type = String.fromCharCode(buf[0]);
        const body = buf.subarray(5, length + 1);
        buf = buf.subarray(length + 1);
        if (type === "D") result.rows.push(dataRow(body));
        if (type === "E") result.sqlstate = errorCode(body);
        if (type === "Z") {
          result.status = String.fromCharCode(body[0]);
          socket.pause();
          socket.off("data", onData).off("close", onClose);
          session.pending = buf;
          return resolve(result);
        }
      }
    };
    const onClose = () => reject(new Error("server closed the session"));
    socket.on("data", onData).on("close", onClose);
    socket.write(msg);
    socket.resume();
  });
}

function dataRow(body: Uint8Array): string[] {
  const view = new DataView(body.buffer, body.byteOffset);
  const row: string[] = [];
  let offset = 2;
  for (let i = 0; i < view.getInt16(0); i++) {
    const n = view.getInt32(offset);
    offset += 4;
    row.push(new TextDecoder().decode(body.subarray(offset, offset + Math.max(n, 0))));
    offset += Math.max(n, 0);
  }
  return row;
}

function errorCode(body: Uint8Array): string | undefined {
  const fields = new TextDecoder().decode(body).split("\0");
  return fields.find((f) => f.startsWith("C"))?.slice(1);
}

/** Ends the session and waits for the socket to close, so no resource outlives the test. */
export async function close(socket: Socket): Promise<void> {
  if (socket.destroyed && socket.closed) return;
  const closed = new Promise((resolve) => socket.once("close", resolve));
  socket.destroy();
  await closed;
}

/** Awaits `attempt`, which must reject with an UpstreamError of `kind` and `sqlstate`. */
export async function assertUpstreamError(
  attempt: Promise<unknown>,
  kind: UpstreamErrorKind,
  sqlstate: string,
  message?: RegExp,
): Promise<UpstreamError> {
  let caught: unknown;
  await rejects(attempt.catch((err) => {
    caught = err;
    throw err;
  }));
  ok(caught instanceof UpstreamError, `not an UpstreamError: ${caught}`);
  equal(caught.kind, kind, caught.message);
  equal(caught.sqlstate, sqlstate, caught.message);
  if (message) ok(message.test(caught.message), caught.message);
  return caught;
}

/** Runs `fn` against a fresh cluster started with `options`; stops it afterwards. */
export async function withCluster(
  options: Parameters<typeof startPostgres>[0],
  fn: (pg: PgCluster) => Promise<void>,
): Promise<void> {
  const pg = await startPostgres(options);
  try {
    await fn(pg);
  } finally {
    await pg.stop();
  }
}
