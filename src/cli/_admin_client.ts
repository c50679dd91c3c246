/**
 * The CLI's side of the admin API: where it is (`gateway.admin_listen`, or `--admin-url`), which
 * admin token to send (`CLAWPATROL_ADMIN_TOKEN`, else `state_dir/admin.token`), and who the
 * operator is. The token is sent in one header and never printed.
 *
 * @module
 */

import { join } from "node:path";
import { userInfo } from "node:os";
import { ADMIN_TOKEN_FILE, readAdminTokenFile } from "../admin/mod.ts";
import { loadConfig } from "../config/mod.ts";
import type { Config } from "../config/mod.ts";
import { stateDirOf } from "../gateway/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import type { GlobalOptions } from "./_args.ts";
import { UsageError } from "./_args.ts";

/** The environment variable holding an admin token (for use away from the gateway host). */
export const ADMIN_TOKEN_ENV = "CLAWPATROL_ADMIN_TOKEN";

const REQUEST_TIMEOUT_MS = 10_000;

/** An answer from the admin API. */
export interface AdminAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Where the token came from, for error messages (never the token). */
type TokenSource =
  | { kind: "env" }
  | { kind: "file"; path: string }
  | { kind: "none"; why: string };

/** Talks to one gateway's admin API with one admin token. */
export class AdminClient {
  /** Base URL, without a trailing slash. */
  readonly url: string;
  readonly #token: string | undefined;
  readonly #source: TokenSource;

  constructor(url: string, token: string | undefined, source: TokenSource) {
    this.url = url;
    this.#token = token;
    this.#source = source;
  }

  /**
   * Sends one request; throws (one line) when the gateway cannot be reached, refuses the token,
   * or answers something other than the admin API's JSON.
   */
  async request(method: string, path: string, body?: unknown): Promise<AdminAnswer> {
    const target = new URL(this.url + path);
    const headers = new Headers({ accept: "application/json" });
    if (this.#token !== undefined) headers.set("authorization", `Bearer ${this.#token}`);
    if (body !== undefined) headers.set("content-type", "application/json");
    // Plain-HTTP requests go straight to the admin listener: HTTP_PROXY (set in an agent's
    // environment, perhaps to this very gateway) must never see the token in clear.
    const client = target.protocol === "http:"
      ? Deno.createHttpClient({
        proxy: {
          transport: "tcp",
          // Kept in brackets for IPv6: Deno parses hostname:port back into a URI.
          hostname: target.hostname,
          port: Number(target.port || 80),
        },
      })
      : undefined;
    let res: Response;
    let text: string;
    try {
      res = await fetch(target, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        client,
      });
      text = await res.text();
    } catch (err) {
      throw new Error(`Cannot reach the gateway's admin API at ${this.url}: ${why(err)}`);
    } finally {
      client?.close();
    }
    if (res.status === 401) {
      throw new Error(
        `The gateway's admin API at ${this.url} answered 401 Unauthorized: ${this.#hint()}`,
      );
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new Error(
        `${this.url} answered ${res.status} without the admin API's JSON: is it gateway.admin_listen?`,
      );
    }
    return { status: res.status, body: parsed as Record<string, unknown> };
  }

  #hint(): string {
    const source = this.#source;
    switch (source.kind) {
      case "env":
        return `the admin token in ${ADMIN_TOKEN_ENV} was not accepted`;
      case "file":
        return `the admin token in '${source.path}' was not accepted (is this the gateway's state directory? a replaced token takes effect when the gateway restarts)`;
      case "none":
        return `no admin token was sent (${source.why}): set ${ADMIN_TOKEN_ENV}, or run this on the gateway host with its config`;
    }
  }
}

/** A fetch failure in one phrase ("Connection refused", "no answer within 10 s"). */
function why(err: unknown): string {
  if (err instanceof DOMException && err.name === "TimeoutError") {
    return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  }
  // fetch's TypeError says only "fetch failed"; the reason is in its cause.
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
  const message = cause instanceof Error ? cause.message : String(cause);
  // Deno: "error sending request for url (URL): client error (Connect): tcp connect error: X".
  const last = message.split(": ").pop() ?? message;
  return last.replace(/ \(os error \d+\)$/, "");
}

/** Options for {@linkcode openAdminClient}. */
export interface OpenAdminClientOptions {
  /** `--admin-url`: overrides `gateway.admin_listen`. */
  adminUrl?: string;
}

/**
 * The admin API client for this invocation. The config is read only when needed: for the URL
 * (no `--admin-url`) or the token file (no `CLAWPATROL_ADMIN_TOKEN`).
 *
 * @example
 * ```ts
 * const admin = await openAdminClient(global, { adminUrl: "http://10.0.0.5:8081" });
 * ```
 */
export async function openAdminClient(
  global: GlobalOptions,
  options: OpenAdminClientOptions = {},
): Promise<AdminClient> {
  const given = options.adminUrl === undefined ? undefined : checkAdminUrl(options.adminUrl);
  // An empty variable means unset, as for CLAWPATROL_CONFIG.
  const envToken = Deno.env.get(ADMIN_TOKEN_ENV) || undefined;
  let config: Config | undefined;
  let noConfig = "";
  if (given === undefined || envToken === undefined) {
    // With --admin-url, a config that is not there only means no token file to read.
    if (given !== undefined && !global.configGiven && !(await exists(global.config))) {
      noConfig = `no config at ${global.config} to find state_dir/${ADMIN_TOKEN_FILE} in`;
    } else {
      config = await loadConfig(global.config, { protocols: PROTOCOLS });
    }
  }
  const url = given ?? adminUrlOf(config!.gateway.adminListen);
  if (envToken !== undefined) return new AdminClient(url, envToken, { kind: "env" });
  if (config === undefined) return new AdminClient(url, undefined, { kind: "none", why: noConfig });
  const path = join(await stateDirOf(config), ADMIN_TOKEN_FILE);
  try {
    return new AdminClient(url, readAdminTokenFile(path), { kind: "file", path });
  } catch (err) {
    // A token file others can read is refused outright: the fix is a chmod, not a 401.
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return new AdminClient(url, undefined, { kind: "none", why: `'${path}' does not exist` });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

function checkAdminUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UsageError(`--admin-url '${raw}' is not a URL: use http://HOST:PORT`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--admin-url '${raw}' must be an http:// or https:// URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new UsageError(
      `--admin-url '${raw}' must be http://HOST:PORT[/PATH] without credentials, query or fragment`,
    );
  }
  return url.href.replace(/\/$/, "");
}

/**
 * The admin API's URL for `gateway.admin_listen`, a wildcard bind address (`0.0.0.0`, `::`)
 * replaced by `127.0.0.1`.
 *
 * @example
 * ```ts
 * adminUrlOf("0.0.0.0:8081"); // "http://127.0.0.1:8081"
 * ```
 */
export function adminUrlOf(listen: string): string {
  const at = listen.lastIndexOf(":");
  let host = listen.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const port = listen.slice(at + 1);
  if (host === "" || host === "0.0.0.0" || host === "::") host = "127.0.0.1";
  if (port === "0") {
    throw new UsageError(
      `gateway.admin_listen '${listen}' picks a random port: pass --admin-url with the port from the gateway's 'serving' log line`,
    );
  }
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Characters a user name may keep in `cli:<user>`; others become `_`. */
const USER_CHARS = /[^A-Za-z0-9._-]/g;

/**
 * The operator's OS user name, recorded as the decider `cli:<user>`: `$USER`, else `$LOGNAME`,
 * else the account's name (when `--allow-sys=uid,gid,username,homedir` is granted, as under
 * `-A`), else `operator`. Characters
 * outside `[A-Za-z0-9._-]` become `_`, cut to 64. Permissions are queried first, so a narrow
 * launcher never prompts.
 *
 * @example
 * ```ts
 * osUser(); // "alice"
 * ```
 */
export function osUser(): string {
  const clean = (name: string) => name.replace(USER_CHARS, "_").slice(0, 64);
  for (const variable of ["USER", "LOGNAME"]) {
    if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") continue;
    const value = Deno.env.get(variable);
    if (value) return clean(value);
  }
  // node:os userInfo() reads all four; the launcher grants none, so there it is never tried.
  const sys = ["uid", "gid", "username", "homedir"] as const;
  if (sys.every((kind) => Deno.permissions.querySync({ name: "sys", kind }).state === "granted")) {
    try {
      const name = userInfo().username;
      if (name) return clean(name);
    } catch {
      // No passwd entry for this uid (a container): fall through.
    }
  }
  return "operator";
}
