/**
 * Settings the gateway pins for the whole session, because changing them would make its reading
 * of SQL differ from the server's:
 *
 * - lexing: `standard_conforming_strings` off makes `\'` an escaped quote inside `'…'`, so text
 *   libpg-query (always on) reads as one SELECT runs as several statements on the server;
 *   `backslash_quote` decides whether `\'` is accepted there at all; `client_encoding` other
 *   than UTF8 lets a multibyte character swallow a quote (the gateway decodes UTF-8).
 * - identity and name resolution: `role` and `session_authorization` change whose privileges
 *   run; `search_path` changes which function or table an unqualified name is.
 *
 * A statement that may change one is refused before any rule, with a receipt.
 *
 * @module
 */

import { isUtf8Encoding } from "./_settings.ts";

/** Why changing each pinned setting is refused. */
const PINNED: Record<string, string> = {
  standard_conforming_strings: "it changes how the server reads string literals",
  backslash_quote: "it changes how the server reads string literals",
  search_path: "it changes which function or table an unqualified name refers to",
  role: "it changes whose privileges the session runs with",
  session_authorization: "it changes whose privileges the session runs with",
};

/** Lexing settings whose server value at login must match how the gateway parses. */
export const LEXING_SETTINGS: Readonly<Record<string, (value: string) => boolean>> = {
  standard_conforming_strings: (v) => v.toLowerCase() === "on",
  client_encoding: isUtf8Encoding,
};

/**
 * Why a change of `name` to `value` (`null`: not a constant) is refused, or null when it may go
 * ahead. `name` is lowercase; `"*"` is a name computed at run time.
 *
 * @example
 * ```ts
 * pinnedChange("search_path", "evil, pg_catalog"); // "changing search_path is not allowed …"
 * pinnedChange("statement_timeout", "5s"); // null
 * ```
 */
export function pinnedChange(name: string, value: string | null): string | null {
  if (name === "*") {
    return "set_config() with a setting name computed at run time is not allowed through " +
      "clawpatrol: the gateway cannot tell which setting it changes";
  }
  if (name === "client_encoding" && (value === null || !isUtf8Encoding(value))) {
    return "client_encoding must stay UTF8 through clawpatrol";
  }
  // Setting it to what the gateway already requires changes nothing (some drivers do so).
  if (
    name === "standard_conforming_strings" && value !== null &&
    /^(on|true|yes|1)$/i.test(value.trim())
  ) {
    return null;
  }
  const why = PINNED[name];
  return why === undefined
    ? null
    : `changing ${name} is not allowed through clawpatrol: ${why}, so the gateway could no ` +
      `longer judge statements as the server runs them`;
}

/**
 * Why the server's value of a reported setting (ParameterStatus) is one the gateway cannot
 * work under, or null: at login (a server, database or role default) or, with `during`, when the
 * server reports a change mid-session (made out of the gateway's sight).
 *
 * @example
 * ```ts
 * serverSettingRefusal("standard_conforming_strings", "off"); // "the database reports …"
 * ```
 */
export function serverSettingRefusal(name: string, value: string, during = false): string | null {
  const ok = LEXING_SETTINGS[name.toLowerCase()];
  if (ok === undefined || ok(value)) return null;
  const required = name.toLowerCase() === "client_encoding" ? "UTF8" : "on";
  if (during) {
    return `${name} must stay ${required} through clawpatrol (the server reported ${value})`;
  }
  return `the database reports ${name} = ${value}; clawpatrol parses SQL as PostgreSQL does ` +
    `with ${required} and cannot judge statements otherwise. Set ${name} back to its default ` +
    `for this database and role (ALTER DATABASE/ROLE … RESET ${name}, or postgresql.conf)`;
}
