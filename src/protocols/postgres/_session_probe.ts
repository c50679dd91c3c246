/**
 * What the gateway asks the upstream once per login, before the agent's first message, about
 * settings the server does not report (ParameterStatus) but that change what statements mean:
 * server, database and role defaults set outside the gateway.
 *
 * - `search_path`: a function or operator in a schema on the path can take a call the rules
 *   read as the built-in of that name (same signature earlier on the path, or a better-matching
 *   signature anywhere on it), and a type there can take a bare type name. Every such name is
 *   collected, and a statement using one by its bare name is no plain read.
 * - `role`: a default `role` makes the session run as someone other than the credential's user.
 * - `backslash_quote`: only decides whether `\'` is an error, never how text splits (with
 *   standard_conforming_strings on, which login already requires); read for the record.
 *
 * @module
 */

import type { Socket } from "node:net";
import { BackendFramer, parseErrorFields } from "./_backend.ts";
import { query } from "./_encode.ts";

/** The session as the server set it up. */
export interface SessionProbe {
  searchPath: string;
  /**
   * Names of functions, operators and types visible on the search path outside `pg_catalog`
   * that could take a bare reference meant for a built-in (see the probe's query).
   */
  shadowing: ReadonlySet<string>;
  currentUser: string;
  sessionUser: string;
}

// Every name and operator is schema-qualified: the probe must not itself call something the
// path shadows. A candidate shadows unless it is an extension's member (installed by a
// superuser) whose function is immutable or stable and not parallel unsafe, the criteria the
// built-ins are held to; types shadow by name alone (a domain's CHECK may call anything).
const EQ = "OPERATOR(pg_catalog.=)";
const ON_PATH = `n.nspname ${EQ} ANY (pg_catalog.current_schemas(false)) ` +
  `AND n.nspname OPERATOR(pg_catalog.<>) 'pg_catalog'`;
const TRUSTED = `(p.provolatile ${EQ} ANY ('{i,s}'::"char"[]) ` +
  `AND p.proparallel OPERATOR(pg_catalog.<>) 'u'::"char" AND EXISTS (SELECT FROM ` +
  `pg_catalog.pg_depend d WHERE d.classid ${EQ} 'pg_catalog.pg_proc'::pg_catalog.regclass ` +
  `AND d.objid ${EQ} p.oid AND d.deptype ${EQ} 'e'::"char"))`;
const PROBE_SQL = "SELECT pg_catalog.current_setting('search_path'), " +
  "current_user, session_user, " + // keywords, not functions: nothing to shadow
  "(SELECT pg_catalog.json_agg(DISTINCT x.name)::text FROM (" +
  `SELECT p.proname AS name FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ` +
  `ON n.oid ${EQ} p.pronamespace WHERE ${ON_PATH} AND NOT ${TRUSTED} ` +
  `UNION SELECT o.oprname FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ` +
  `ON n.oid ${EQ} o.oprnamespace JOIN pg_catalog.pg_proc p ON p.oid ${EQ} o.oprcode ` +
  `WHERE ${ON_PATH} AND NOT ${TRUSTED} ` +
  `UNION SELECT t.typname FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ` +
  `ON n.oid ${EQ} t.typnamespace WHERE ${ON_PATH}) x)`;

const decoder = new TextDecoder();

/** Text columns of a DataRow body (NULL as null). */
function dataRow(body: Uint8Array): (string | null)[] {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const n = view.getUint16(0);
  const out: (string | null)[] = [];
  let p = 2;
  for (let i = 0; i < n; i++) {
    const len = view.getInt32(p);
    p += 4;
    if (len < 0) out.push(null);
    else {
      out.push(decoder.decode(body.subarray(p, p + len)));
      p += len;
    }
  }
  return out;
}

/**
 * Runs the probe on a logged-in upstream socket (paused, no 'data' listener) whose unread bytes
 * are `pending`. Resolves with what it found and the bytes read past the probe's ReadyForQuery;
 * the socket is left paused without a listener again. Rejects on an error, a closed socket or
 * `timeoutMs`.
 *
 * @example
 * ```ts
 * const { probe, pending } = await probeSession(upstream.socket, upstream.pending, 5000);
 * ```
 */
export function probeSession(
  socket: Socket,
  pending: Uint8Array,
  timeoutMs: number,
): Promise<{ probe: SessionProbe; pending: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const framer = new BackendFramer();
    let row: (string | null)[] | null = null;
    let error: string | null = null;
    const done = (err: Error | null) => {
      clearTimeout(timer);
      socket.off("data", onData).off("close", onClose);
      socket.pause();
      if (err) return reject(err);
      if (error !== null) return reject(new Error(`the session probe failed: ${error}`));
      if (row === null || row.length !== 4) {
        return reject(new Error("the session probe got no row"));
      }
      let shadowing: unknown = [];
      try {
        shadowing = JSON.parse(row[3] ?? "[]") ?? [];
      } catch {
        return reject(new Error("the session probe got an unreadable function list"));
      }
      if (!Array.isArray(shadowing)) return reject(new Error("unexpected function list"));
      resolve({
        probe: {
          searchPath: row[0] ?? "",
          currentUser: row[1] ?? "",
          sessionUser: row[2] ?? "",
          shadowing: new Set(shadowing.map(String)),
        },
        pending: framer.drain(),
      });
    };
    const onData = (chunk: Uint8Array) => {
      try {
        framer.push(chunk);
        for (let m = framer.next(); m !== null; m = framer.next()) {
          if (m.type === 0x44) row ??= dataRow(m.body); // 'D'
          else if (m.type === 0x45) error ??= parseErrorFields(m.body).get("M") ?? "error"; // 'E'
          else if (m.type === 0x5a) return done(null); // 'Z'
        }
      } catch (err) {
        done(err as Error);
      }
    };
    const onClose = () => done(new Error("the upstream closed the connection during the probe"));
    const timer = setTimeout(() => done(new Error("the session probe timed out")), timeoutMs);
    socket.on("data", onData).on("close", onClose);
    socket.write(query(PROBE_SQL));
    if (pending.length > 0) onData(pending);
    socket.resume();
  });
}

/**
 * Why a probed session cannot be judged, or null: it runs as a role other than the credential's
 * user (a `role` default).
 */
export function probeRefusal(probe: SessionProbe): string | null {
  if (probe.currentUser !== probe.sessionUser) {
    return `the database runs this session as role '${probe.currentUser}', not as the ` +
      `credential's user '${probe.sessionUser}' (a role or database default sets role); ` +
      "clawpatrol decides as the credential's user only. Remove that default (ALTER ROLE/" +
      "DATABASE … RESET role)";
  }
  return null;
}
