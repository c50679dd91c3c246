/**
 * Where the quickstart keeps its gateway and what that gateway's config says: a Postgres
 * endpoint with rules that deny DDL and allow plain reads, an HTTPS demo API whose writes wait
 * for a human, and a profile `demo` that reaches both.
 *
 * @module
 */

import { isIP } from "node:net";
import { join, resolve } from "node:path";
import { splitHostPort } from "../core/mod.ts";
import { UsageError } from "./_args.ts";

/** The user's state home: `$XDG_STATE_HOME`, else `~/.local/state` (XDG Base Directory). */
export function userStateHome(env: (name: string) => string | undefined): string {
  const xdg = env("XDG_STATE_HOME");
  if (xdg && xdg.startsWith("/")) return xdg;
  const home = env("HOME");
  if (!home) throw new UsageError("HOME is not set: pass --dir DIR");
  return join(home, ".local", "state");
}

/** The environment as the grant allows it: a variable we may not read counts as unset. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** The quickstart's directory: `--dir`, else `STATE_HOME/clawpatrol/quickstart`. */
export function quickstartDir(given: string | undefined): string {
  return given === undefined
    ? join(userStateHome(readEnv), "clawpatrol", "quickstart")
    : resolve(given);
}

/** Files inside (or beside) the quickstart's directory. */
export function quickstartFiles(dir: string) {
  return {
    config: join(dir, "gateway.hcl"),
    /** Marks a directory the quickstart made, so it only ever wipes its own. */
    marker: join(dir, ".clawpatrol-quickstart"),
    /** The demo agent's shell exports, written (0600) once everything is up. */
    env: join(dir, "agent.env"),
    /** The demo API's own CA (ca.pem, ca.key): the gateway verifies the upstream with it. */
    apiCa: join(dir, "demo-api"),
    /** Held (flock) while a quickstart runs; the one file a new quickstart does not wipe. */
    lock: join(dir, ".lock"),
  };
}

/** The hostname the demo API answers as (never resolved: the endpoint dials `upstream`). */
export const DEMO_API_HOST = "api.demo.test";

/** A database given with `--postgres postgres://USER@HOST:PORT/DB?sslmode=…`. */
export interface PostgresTarget {
  address: string;
  user: string;
  database: string;
  sslmode: "disable" | "prefer" | "require" | "verify-full";
}

const SSLMODES = ["disable", "prefer", "require", "verify-full"] as const;

/**
 * Parses `--postgres`. A password in the URL is refused: argv is visible to every user in `ps`.
 *
 * @throws {UsageError} for anything but `postgres[ql]://USER@HOST[:PORT]/DB`.
 */
export function parsePostgresUrl(text: string): PostgresTarget {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(
      `--postgres must be a URL like postgres://USER@HOST:5432/DB, got '${text}'`,
    );
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new UsageError(`--postgres must start with postgres://, got '${url.protocol}'`);
  }
  if (url.password !== "") {
    throw new UsageError(
      "--postgres must not carry the password (other users see argv in ps): set PGPASSWORD, " +
        "or type it at the prompt",
    );
  }
  const user = decodeURIComponent(url.username);
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (user === "" || database === "" || url.hostname === "") {
    throw new UsageError(`--postgres needs a user, a host and a database: postgres://USER@HOST/DB`);
  }
  const sslmode = url.searchParams.get("sslmode") ?? "prefer";
  if (!(SSLMODES as readonly string[]).includes(sslmode)) {
    throw new UsageError(`--postgres sslmode must be one of ${SSLMODES.join(", ")}`);
  }
  return {
    // An IPv6 hostname keeps its brackets: `[::1]:5432`.
    address: `${url.hostname}:${url.port || "5432"}`,
    user,
    database,
    sslmode: sslmode as PostgresTarget["sslmode"],
  };
}

/** What the config is made from: the listen addresses and the two upstreams. */
export interface QuickstartPlan {
  proxyListen: string;
  adminListen: string;
  postgresListen: string;
  database: PostgresTarget;
  /** `host:port` the demo API listens on. */
  apiAddress: string;
  /** A /24 of {@linkcode QUICKSTART_VIP_RANGE}: its virtual IPs (its isolated links: 10.77.x). */
  vipRange: string;
}

/** A /24 of the quickstart's virtual IP range, apart from another quickstart's. */
export function quickstartVipRange(): string {
  return `10.79.${crypto.getRandomValues(new Uint8Array(1))[0]}.0/24`;
}

/** Where the quickstart's virtual IPs come from: its grant names the whole range. */
export const QUICKSTART_VIP_RANGE = "10.79.0.0/16";

/** Where the quickstart's isolated runs' links come from (its DNS answers go there). */
export const QUICKSTART_LINK_RANGE = "10.77.0.0/16";

/** The name agents dial a database known by its address alone (in an isolated run). */
export const DEMO_DB_HOST = "db.demo.test";

/**
 * Where the demo database is: a database known by an IP address gets a name agents can dial
 * from an isolated run (the gateway dials the address), unless its certificate is checked.
 */
function databaseAddress(db: PostgresTarget): string {
  const [host, port] = splitHostPort(db.address);
  if (isIP(host) === 0 || db.sslmode === "verify-full") return `  host    = "${db.address}"`;
  return `  host     = "${DEMO_DB_HOST}:${port}"
  upstream = "${db.address}"`;
}

/** The quickstart's `gateway.hcl`. */
export function quickstartConfig(plan: QuickstartPlan): string {
  const { database: db } = plan;
  return `# Written by 'clawpatrol quickstart': a throwaway demo gateway (wiped by the next quickstart).
schema_version = 1

gateway {
  state_dir    = "./state"
  proxy_listen = "${plan.proxyListen}"
  admin_listen = "${plan.adminListen}"
  # For 'clawpatrol run --isolate': endpoint names resolve to virtual IPs that lead here; the
  # offset keeps the gateway's own ports unprivileged (the root step maps 443 to 20443, 53 to
  # 20053).
  transparent {
    vip_range   = "${plan.vipRange}"
    link_range  = "${plan.vipRange.replace(/^10\.79\./, "10.77.")}"
    port_offset = 20000
  }
}

defaults {
  unknown_host     = "deny"
  no_match         = "deny"
  human_timeout    = "10m"
  human_on_timeout = "deny"
}

# The database: agents connect to 'listen' with their agent token as the password; the gateway
# logs in upstream as '${db.user}' with the password from the vault.
endpoint "postgres" "demo_db" {
${databaseAddress(db)}
  listen  = "${plan.postgresListen}"
  sslmode = "${db.sslmode}"
}

credential "postgres_credential" "demo_db_login" {
  endpoint = postgres.demo_db
  user     = "${db.user}"
  database = "${db.database}"
}

# A local HTTPS API standing in for GitHub: the gateway dials 'upstream' for ${DEMO_API_HOST}.
endpoint "https" "demo_api" {
  hosts    = ["${DEMO_API_HOST}"]
  upstream = "${plan.apiAddress}"
  ca_cert  = "<<file:demo-api/ca.pem>>"
}

approver "human_approver" "ops" {
  timeout = "10m"
}

profile "demo" {
  endpoints   = [https.demo_api]
  credentials = [postgres_credential.demo_db_login]
}

rule "pg-no-ddl" {
  endpoint  = postgres.demo_db
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop', 'truncate', 'alter', 'create', 'grant', 'revoke'])"
  verdict   = "deny"
  reason    = "Schema changes land via migration PR, not via the agent"
}

rule "pg-reads" {
  endpoint  = postgres.demo_db
  condition = "sql.read_only"
  verdict   = "allow"
}

rule "demo-api-reads" {
  endpoint  = https.demo_api
  condition = "http.method in ['get', 'head']"
  verdict   = "allow"
}

rule "demo-api-writes" {
  endpoint  = https.demo_api
  condition = "http.method in ['post', 'put', 'patch', 'delete']"
  approve   = [human_approver.ops]
  reason    = "Writes need a human's approval"
}
`;
}
