/**
 * The quickstart's throwaway PostgreSQL: a cluster in a temporary directory on a free loopback
 * port, with a database `app` whose owner `app_owner` owns a `users` table. As root, the server
 * runs as the `postgres` OS user (PostgreSQL refuses to run as root), as the tests do.
 *
 * @module
 */

import { join } from "node:path";

/** Where Debian and Ubuntu put the server binaries, one directory per major version. */
export const POSTGRES_LIB = "/usr/lib/postgresql";
/** Where `runuser` may live: the way root starts a program as `postgres`. */
export const RUNUSER_PATHS = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"];
const SUPERUSER = "clawpatrol_admin";
const START_TIMEOUT_S = 60;

/** A database the quickstart's Postgres endpoint points at. */
export interface DemoDatabase {
  /** `host:port` of the real server. */
  address: string;
  user: string;
  database: string;
  /** The login password: it goes to the vault, never to argv or a log. */
  password: string;
  /** Whether the server speaks TLS: the local one does not (loopback only). */
  sslmode: "disable" | "prefer" | "require" | "verify-full";
  /** Stops the server and removes its files; idempotent. */
  stop(): Promise<void>;
}

/**
 * The newest `…/bin` under {@linkcode POSTGRES_LIB} holding `initdb`, `pg_ctl` and `psql`; null
 * when PostgreSQL's server binaries are not installed.
 */
export function findPostgresBin(): string | null {
  const versions: number[] = [];
  try {
    for (const entry of Deno.readDirSync(POSTGRES_LIB)) {
      if (/^\d+$/.test(entry.name)) versions.push(Number(entry.name));
    }
  } catch {
    return null;
  }
  for (const version of versions.sort((a, b) => b - a)) {
    const bin = join(POSTGRES_LIB, String(version), "bin");
    if (["initdb", "pg_ctl", "psql"].every((name) => isFile(join(bin, name)))) return bin;
  }
  return null;
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

interface Ran {
  code: number;
  stderr: string;
}

/** Runs a program with a clean environment (a user's PG* must not redirect it). */
async function run(cmd: string, args: string[], env: Record<string, string> = {}, stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    env: { PATH: "/usr/bin:/bin", LANG: "C", ...env },
    clearEnv: true,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) } satisfies Ran;
}

/** `postgres`'s uid and gid from /etc/passwd, when we are root; null otherwise. */
function postgresOwner(): [number, number] | null {
  if (Deno.uid() !== 0) return null;
  const line = Deno.readTextFileSync("/etc/passwd").split("\n")
    .find((l) => l.startsWith("postgres:"));
  if (!line) throw new Error("Running as root, but there is no 'postgres' user to run PostgreSQL");
  const [, , uid, gid] = line.split(":");
  return [Number(uid), Number(gid)];
}

/** Wraps a server binary so it runs as the cluster's owner. */
function asOwner(owner: [number, number] | null) {
  const runuser = RUNUSER_PATHS.find(isFile);
  return (bin: string, args: string[]): [string, string[]] => {
    if (owner === null) return [bin, args];
    if (!runuser) throw new Error("Running as root, but 'runuser' is missing: run as a user");
    return [runuser, ["-u", "postgres", "--", bin, ...args]];
  };
}

function randomSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "x");
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function writeOwned(path: string, text: string, owner: [number, number] | null) {
  await Deno.writeTextFile(path, text, { mode: 0o600 });
  if (owner) await Deno.chown(path, ...owner);
}

/** The table the demo reads and the agent tries to drop, owned by the credential's user. */
const DEMO_SQL = (password: string) => `
CREATE ROLE app_owner LOGIN PASSWORD '${password}';
CREATE DATABASE app OWNER app_owner;
\\connect app
SET ROLE app_owner;
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO users VALUES (1, 'ada'), (2, 'grace');
`;

/**
 * Starts a throwaway cluster with the demo database; `progress` hears about each slow step.
 *
 * @throws {Error} naming the step and the server's last words when one fails.
 */
export async function startDemoPostgres(
  bin: string,
  progress: (step: string) => void,
): Promise<DemoDatabase> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-quickstart-pg-" });
  const owner = postgresOwner();
  const as = asOwner(owner);
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  let started = false;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    stopping ??= (async () => {
      if (started) await run(...as(join(bin, "pg_ctl"), ["-D", data, "-m", "fast", "stop"]));
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();
  try {
    if (owner) await Deno.chown(dir, ...owner);
    const superpassword = randomSecret();
    const pwfile = join(dir, "pwfile");
    await writeOwned(pwfile, `${superpassword}\n`, owner);
    progress("creating a throwaway PostgreSQL cluster (initdb)");
    const init = await run(...as(join(bin, "initdb"), [
      ...["-D", data, "-U", SUPERUSER, "--auth=scram-sha-256", `--pwfile=${pwfile}`],
      ...["-E", "UTF8", "--locale=C", "--no-sync"],
    ]));
    await Deno.remove(pwfile);
    if (init.code !== 0) throw new Error(`initdb failed: ${init.stderr.trim()}`);
    progress("starting PostgreSQL");
    const port = await startServer(bin, dir, owner, () => started = true);
    progress("creating the demo database 'app' with a 'users' table");
    const password = randomSecret();
    const psql = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", `${port}`];
    const created = await run(
      join(bin, "psql"),
      [...psql, "-U", SUPERUSER, "-d", "postgres", "-f", "-"],
      { PGPASSWORD: superpassword, PGCONNECT_TIMEOUT: "10" },
      DEMO_SQL(password),
    );
    if (created.code !== 0) throw new Error(`Cannot create the demo database: ${created.stderr}`);
    return {
      address: `127.0.0.1:${port}`,
      user: "app_owner",
      database: "app",
      password,
      sslmode: "disable",
      stop,
    };
  } catch (e) {
    const log = await Deno.readTextFile(logFile).catch(() => "");
    await stop();
    const tail = log.trim().split("\n").slice(-5).join("\n");
    throw new Error(`${(e as Error).message}${tail ? `\nserver log:\n${tail}` : ""}`);
  }
}

/** Starts the server on a free port (another one if that port was taken meanwhile). */
async function startServer(
  bin: string,
  dir: string,
  owner: [number, number] | null,
  onStarted: () => void,
): Promise<number> {
  const data = join(dir, "data");
  const logFile = join(dir, "server.log");
  await writeOwned(join(data, "pg_hba.conf"), HBA, owner);
  await Deno.writeTextFile(join(data, "postgresql.conf"), "include 'quickstart.conf'\n", {
    append: true,
  });
  let last = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = freePort();
    const conf = [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      `port = ${port}`,
      "fsync = off",
      "log_min_messages = warning",
    ];
    await writeOwned(join(data, "quickstart.conf"), `${conf.join("\n")}\n`, owner);
    await writeOwned(logFile, "", owner);
    const ctl = ["-D", data, "-l", logFile, "-w", "-t", `${START_TIMEOUT_S}`, "start"];
    const result = await run(...asOwner(owner)(join(bin, "pg_ctl"), ctl));
    // pg_ctl may give up on a server that comes up later: stop() must try either way.
    onStarted();
    if (result.code === 0) return port;
    last = await Deno.readTextFile(logFile).catch(() => result.stderr);
    if (!/could not bind|address already in use/i.test(last)) break;
  }
  throw new Error(`PostgreSQL did not start: ${last.trim().split("\n").slice(-3).join(" ")}`);
}

/** Password logins over loopback TCP; the socket line is for pg_ctl's own readiness checks. */
const HBA = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n";
