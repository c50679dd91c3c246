/**
 * A throwaway PostgreSQL 15 cluster for tests and benches: initdb into a temp directory, SCRAM
 * superuser, a random loopback port, optional TLS with a certificate from a fresh CA, and stop()
 * that removes everything. As root, the server runs as the `postgres` OS user (it refuses root).
 *
 * @example
 * ```ts
 * import { postgresAvailable, startPostgres } from "./_postgres.ts";
 *
 * Deno.test({ name: "…", ignore: !postgresAvailable() }, async () => {
 *   const pg = await startPostgres({ ssl: true });
 *   try {
 *     await pg.addUser("agent_ro", "s3cret");
 *     console.log(await pg.sql("SELECT version()"));
 *   } finally {
 *     await pg.stop();
 *   }
 * });
 * ```
 *
 * @module
 */

import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { join } from "node:path";
import { createGatewayCa } from "../src/tls/mod.ts";

/** Where Debian puts the PostgreSQL 15 server binaries. */
export const PG_BIN = "/usr/lib/postgresql/15/bin";
const PSQL = "/usr/bin/psql";
const PGBENCH = "/usr/bin/pgbench";
const SUPERUSER = "cp_super";
const START_TIMEOUT_S = 30;

/** A running cluster started by {@linkcode startPostgres}. */
export interface PgCluster {
  host: "127.0.0.1";
  port: number;
  /** Superuser name and password (SCRAM). */
  superuser: string;
  superpassword: string;
  /** Runs SQL as the superuser via psql (fed on stdin, so passwords in SQL stay out of argv); returns stdout. */
  sql(sql: string, database?: string): Promise<string>;
  /** Creates a login role with a password stored as `method`; grants nothing. */
  addUser(name: string, password: string, method?: "scram-sha-256" | "md5"): Promise<void>;
  /** PEM of the CA that signed the server certificate, when started with `ssl: true`. */
  caCertPem?: string;
  dataDir: string;
  /** Stops the server (immediate mode) and removes the temp directory; idempotent. */
  stop(): Promise<void>;
}

/** Options for {@linkcode startPostgres}. */
export interface StartPostgresOptions {
  /** Turn `ssl = on` with a certificate minted for `certHosts`. @default {false} */
  ssl?: boolean;
  /** Names and IPs in the server certificate's subjectAltName. @default {["localhost", "127.0.0.1"]} */
  certHosts?: string[];
  /** Auth method for TCP connections from 127.0.0.1, TLS or not. @default {"scram-sha-256"} */
  hba?: "scram-sha-256" | "md5" | "password";
  /** Extra postgresql.conf settings, written verbatim as `key = value`. */
  settings?: Record<string, string>;
}

/** True when the PostgreSQL server binaries exist, so tests can be ignored with a clear reason. */
export function postgresAvailable(): boolean {
  try {
    return Deno.statSync(join(PG_BIN, "initdb")).isFile && Deno.statSync(PSQL).isFile;
  } catch {
    return false;
  }
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; stdin?: string } = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    // A developer's PGHOST/PGUSER/PGSSLMODE must not redirect or change a test's connection.
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", LANG: "C", ...options.env },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
    await writer.close().catch(() => {});
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** How to run a server binary as the OS user that owns the cluster. */
function asOwnerCommand(): (bin: string, args: string[]) => [string, string[]] {
  if (Deno.uid() !== 0) return (bin, args) => [bin, args];
  const runuser = ["/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"].find(exists);
  if (runuser) return (bin, args) => [runuser, ["-u", "postgres", "--", bin, ...args]];
  return (bin, args) => {
    const script = [bin, ...args].map(shQuote).join(" ");
    return ["su", ["postgres", "-s", "/bin/sh", "-c", script]];
  };
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function shQuote(arg: string): string {
  return `'${arg.replaceAll("'", `'\\''`)}'`;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replace(/[+/=]/g, "x");
}

/** Writes a file the server can read: mode 0600, owned by postgres when we are root. */
async function writeOwned(path: string, data: string, postgresIds: [number, number] | null) {
  await Deno.writeTextFile(path, data, { mode: 0o600 });
  if (postgresIds) await Deno.chown(path, ...postgresIds);
}

/**
 * Starts a fresh cluster and resolves once it accepts connections.
 *
 * @throws {Error} with the tail of the server log when initdb or startup fails.
 *
 * @example
 * ```ts
 * const pg = await startPostgres({ hba: "md5", settings: { max_connections: "200" } });
 * await pg.stop();
 * ```
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PgCluster> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-pg-" });
  const ids = Deno.uid() === 0 ? await postgresIds() : null;
  const asOwner = asOwnerCommand();
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  const superpassword = randomPassword();
  let initialised = false;
  let running = false;
  let stopped: Promise<void> | undefined;

  const stop = () =>
    stopped ??= (async () => {
      // Also after a failed start: pg_ctl -w may give up on a server that comes up later.
      if (initialised) {
        await run(...asOwner(join(PG_BIN, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "stop"]));
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    })();

  try {
    if (ids) await Deno.chown(dir, ...ids);
    const pwfile = join(dir, "pwfile");
    await writeOwned(pwfile, `${superpassword}\n`, ids);
    const initdb = ["-D", dataDir, "-U", SUPERUSER, "--auth=scram-sha-256", `--pwfile=${pwfile}`];
    const init = await run(
      ...asOwner(join(PG_BIN, "initdb"), [...initdb, "-E", "UTF8", "--locale=C", "--no-sync"]),
    );
    await Deno.remove(pwfile);
    if (init.code !== 0) {
      throw new Error(`initdb failed (exit ${init.code}): ${init.stderr.trim()}`);
    }
    initialised = true;

    const method = options.hba ?? "scram-sha-256";
    // One `host` line matches both TLS and plain TCP; the socket line is for pg_ctl's own checks.
    await writeOwned(
      join(dataDir, "pg_hba.conf"),
      `local all all scram-sha-256\nhost all all 127.0.0.1/32 ${method}\n`,
      ids,
    );
    let caCertPem: string | undefined;
    const conf: Record<string, string> = {
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: `'${dir}'`,
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      log_min_messages: "warning",
      ...options.settings,
    };
    if (options.ssl) {
      const tls = await mintServerCertificate(options.certHosts ?? ["localhost", "127.0.0.1"]);
      caCertPem = tls.caCertPem;
      await writeOwned(join(dataDir, "server.crt"), tls.certPem, ids);
      await writeOwned(join(dataDir, "server.key"), tls.keyPem, ids);
      Object.assign(conf, {
        ssl: "on",
        ssl_cert_file: "'server.crt'",
        ssl_key_file: "'server.key'",
      });
    }

    // Our settings live in their own file so postgresql.conf and ALTER SYSTEM stay untouched.
    await Deno.writeTextFile(join(dataDir, "postgresql.conf"), "include 'clawpatrol.conf'\n", {
      append: true,
    });
    let port = 0;
    let lastError = "";
    // The free port may be taken between our probe and the server's bind: retry with a new one.
    for (let attempt = 0; attempt < 5 && !running; attempt++) {
      port = freePort();
      const lines = Object.entries({ ...conf, port: String(port) }).map(([k, v]) => `${k} = ${v}`);
      await writeOwned(join(dataDir, "clawpatrol.conf"), `${lines.join("\n")}\n`, ids);
      await Deno.writeTextFile(logFile, "");
      if (ids) await Deno.chown(logFile, ...ids);
      const ctl = ["-D", dataDir, "-l", logFile, "-w", "-t", `${START_TIMEOUT_S}`, "start"];
      const started = await run(...asOwner(join(PG_BIN, "pg_ctl"), ctl));
      if (started.code === 0) {
        running = true;
        break;
      }
      lastError = await logTail(logFile, started.stderr);
      if (!/could not bind|address already in use/i.test(lastError)) break;
    }
    if (!running) throw new Error(`PostgreSQL in '${dir}' did not start: ${lastError}`);

    const sql = async (text: string, database = "postgres"): Promise<string> => {
      const args = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-f", "-", "-d", database];
      const result = await run(
        PSQL,
        [...args, "-h", "127.0.0.1", "-p", `${port}`, "-U", SUPERUSER],
        {
          env: { PGPASSWORD: superpassword, PGCONNECT_TIMEOUT: "10" },
          stdin: text,
        },
      );
      if (result.code !== 0) {
        throw new Error(`psql failed (exit ${result.code}): ${result.stderr.trim()}`);
      }
      return result.stdout;
    };
    // Wait for TCP logins too: pg_ctl -w only proves the server is up on its socket.
    await waitForLogin(sql, logFile);

    return {
      host: "127.0.0.1",
      port,
      superuser: SUPERUSER,
      superpassword,
      sql,
      async addUser(name, password, method = "scram-sha-256") {
        await sql(
          `SET password_encryption = '${method}';\n` +
            `CREATE ROLE ${quoteIdent(name)} LOGIN PASSWORD ${quoteLiteral(password)};\n`,
        );
      },
      caCertPem,
      dataDir,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitForLogin(sql: (text: string) => Promise<string>, logFile: string) {
  const deadline = Date.now() + START_TIMEOUT_S * 1000;
  for (;;) {
    try {
      await sql("SELECT 1");
      return;
    } catch (err) {
      if (Date.now() > deadline) {
        throw new Error(
          `PostgreSQL does not accept logins: ${(err as Error).message}\n` +
            await logTail(logFile, ""),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function logTail(logFile: string, fallback: string): Promise<string> {
  const log = await Deno.readTextFile(logFile).catch(() => "");
  const tail = log.trim().split("\n").slice(-20).join("\n");
  return [fallback.trim(), tail && `server log:\n${tail}`].filter(Boolean).join("\n");
}

async function postgresIds(): Promise<[number, number]> {
  const [uid, gid] = await Promise.all(["-u", "-g"].map((flag) => run("id", [flag, "postgres"])));
  if (uid.code !== 0 || gid.code !== 0) throw new Error("Running as root, but no 'postgres' user");
  return [Number(uid.stdout), Number(gid.stdout)];
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/**
 * A CA (the gateway's own generator, in a temp state dir) and a server certificate signed by it
 * carrying every one of `hosts` as a SAN: src/tls's mintLeaf takes a single host.
 */
async function mintServerCertificate(hosts: string[]) {
  const stateDir = await Deno.makeTempDir({ prefix: "clawpatrol-pg-ca-" });
  try {
    const ca = await createGatewayCa(stateDir, { commonName: "clawpatrol test PostgreSQL CA" });
    const alg = { name: "ECDSA", namedCurve: "P-256" };
    const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
    const now = Date.now();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: `01${crypto.randomUUID().replaceAll("-", "")}`, // positive, random
      subject: [{ CN: [hosts[0]] }],
      issuer: new x509.X509Certificate(ca.certPem).subjectName,
      notBefore: new Date(now - 3600_000),
      notAfter: new Date(now + 2 * 86400_000),
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(
          hosts.map((h): x509.JsonGeneralName => ({ type: isIP(h) ? "ip" : "dns", value: h })),
        ),
      ],
    });
    const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
    return {
      caCertPem: ca.certPem,
      certPem: x509.PemConverter.encode(cert.rawData, "CERTIFICATE"),
      keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    };
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
}

/**
 * Runs `pgbench` against the cluster as the superuser (password via the child's environment).
 * `env` adds to the environment, e.g. `PGSSLMODE`. Host, port and user come first in argv, so
 * `args` can override them.
 *
 * @example
 * ```ts
 * await pgbench(pg, ["-i", "-s", "1", "postgres"]);
 * const { stdout } = await pgbench(pg, ["-c", "8", "-T", "5", "postgres"]);
 * ```
 */
export function pgbench(
  cluster: PgCluster,
  args: string[],
  env: Record<string, string> = {},
): Promise<RunResult> {
  const target = ["-h", cluster.host, "-p", `${cluster.port}`, "-U", cluster.superuser];
  return run(PGBENCH, [...target, ...args], { env: { PGPASSWORD: cluster.superpassword, ...env } });
}
