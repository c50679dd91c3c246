/**
 * pgbouncer for bench/postgres.ts: session pooling on a random loopback port, SCRAM with the
 * `bench` role's verifier, files in a temp directory owned by `postgres`.
 *
 * @module
 */

import { join } from "node:path";
import { BENCH_DB, BENCH_USER, psql, runBounded, type Target, withTimeout } from "./_pg_setup.ts";

const PGBOUNCER = "/usr/sbin/pgbouncer";

/** A pgbouncer child process. */
export interface Bouncer {
  target: Target;
  /** pgbouncer's own pid (from its pidfile), for CPU accounting. */
  pid: number;
  logFile: string;
  stop(): Promise<void>;
}

/** True when pgbouncer is installed where Debian puts it. */
export function pgbouncerAvailable(): boolean {
  try {
    return Deno.statSync(PGBOUNCER).isFile;
  } catch {
    return false;
  }
}

async function postgresIds(): Promise<[number, number]> {
  const uid = await runBounded("id", ["-u", "postgres"], {}, 5_000);
  const gid = await runBounded("id", ["-g", "postgres"], {}, 5_000);
  if (uid.code !== 0 || gid.code !== 0) throw new Error("running as root without a postgres user");
  return [Number(uid.stdout.trim()), Number(gid.stdout.trim())];
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/**
 * Starts pgbouncer (session pooling, SCRAM with the role's verifier: it authenticates the client
 * with it and reuses the client's SCRAM keys to log in upstream) and waits until a login works.
 * As root it runs as `postgres` via runuser, since pgbouncer refuses to run as root.
 */
export async function startPgbouncer(
  clusterPort: number,
  direct: Target,
  verifier: string,
  poolSize: number,
): Promise<Bouncer> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_pgbouncer_" });
  const ids = Deno.uid() === 0 ? await postgresIds() : null;
  const logFile = join(dir, "pgbouncer.log");
  const pidFile = join(dir, "pgbouncer.pid");
  let child: Deno.ChildProcess | undefined;
  let pid = 0;
  const stop = async () => {
    if (child) {
      try {
        child.kill("SIGTERM"); // runuser passes it on; pgbouncer shuts down at once
      } catch { /* already gone */ }
      const exited = await withTimeout(child.status, 5_000, "pgbouncer stop").then(
        () => true,
        () => false,
      );
      if (!exited) {
        for (const p of [pid, child.pid]) {
          if (p > 0) {
            try {
              Deno.kill(p, "SIGKILL");
            } catch { /* gone */ }
          }
        }
        await withTimeout(child.status, 5_000, "pgbouncer kill").catch(() => {});
      }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    if (ids) await Deno.chown(dir, ...ids);
    const write = async (name: string, text: string) => {
      await Deno.writeTextFile(join(dir, name), text, { mode: 0o600 });
      if (ids) await Deno.chown(join(dir, name), ...ids);
    };
    await write("userlist.txt", `"${BENCH_USER}" "${verifier}"\n`);
    await write("pgbouncer.log", "");
    const port = freePort();
    await write(
      "pgbouncer.ini",
      `[databases]
${BENCH_DB} = host=127.0.0.1 port=${clusterPort} dbname=${BENCH_DB}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = scram-sha-256
auth_file = ${join(dir, "userlist.txt")}
pool_mode = session
default_pool_size = ${poolSize}
max_client_conn = 100
logfile = ${logFile}
pidfile = ${pidFile}
ignore_startup_parameters = extra_float_digits
`,
    );
    const argv = [PGBOUNCER, join(dir, "pgbouncer.ini")];
    const [cmd, ...args] = ids ? ["/usr/sbin/runuser", "-u", "postgres", "--", ...argv] : argv;
    child = new Deno.Command(cmd, {
      args,
      env: { PATH: "/usr/bin:/bin" },
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const target: Target = { ...direct, name: "pgbouncer", port };
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = await psql(target, "SELECT 1", 5_000);
      if (probe.code === 0) break;
      const log = await Deno.readTextFile(logFile).catch(() => "");
      if (Date.now() > deadline || /FATAL|could not bind/.test(log)) {
        throw new Error(`pgbouncer does not accept logins: ${probe.stderr.trim()}\n${log.trim()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    pid = Number((await Deno.readTextFile(pidFile)).trim());
    return { target, pid, logFile, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
