/**
 * The Postgres gateway side by side with a direct connection and with pgbouncer, in one run.
 *
 *     deno run -A bench/postgres.ts [--quick] [--seconds=15] [--rounds=3]
 *
 * What runs, all on 127.0.0.1: a throwaway PostgreSQL 15 cluster (tests/_postgres.ts) with role
 * `bench` (SCRAM) owning database `bench`, filled by `pgbench -i -s 10`; the clawpatrol gateway
 * in this process, which runs itself again under the launcher's V8 flags (`underShippedFlags`,
 * `_child.ts`): endpoint `pg`, a credential that logs in as `bench` with the vault's password, a
 * deny-DDL rule at priority 100 and an allow rule for select/begin/commit/rollback/show/set, so
 * every statement is parsed, decided and given a receipt in SQLite, as in production; pgbouncer
 * in session mode (SCRAM with the role's verifier, one server connection per client). Each
 * target is a different path from the same pgbench binary to the same server:
 *
 * - direct:    pgbench → PostgreSQL
 * - gateway:   pgbench → gateway (token as password; facts, rules, a receipt per statement)
 *              → PostgreSQL
 * - pgbouncer: pgbench → pgbouncer (session pooling) → PostgreSQL
 * - relay:     pgbench → a bare TCP relay (`relay_floor.ts`'s Deno.Conn relay, its own process:
 *              no parsing, no decisions, no receipts) → PostgreSQL. The floor: what any proxy
 *              written for this runtime pays on this machine before doing any work
 *
 * Workloads: `pgbench -n -S` (select-only) with `-M simple` (one Query message per statement, its
 * literal differs every time so the gateway's facts cache misses: the uncached path) and
 * `-M extended` (Parse/Bind/Describe/Execute/Sync with the same `$1` text: the cached path); and
 * `pgbench -n -N -M simple` (simple-update: BEGIN, UPDATE, SELECT, INSERT, END as five Query
 * messages), where a rule allows updating pgbench_accounts and inserting into pgbench_history, so
 * each UPDATE and INSERT waits for its receipt's commit before it runs (the default durability).
 * 8 clients, `-j 2`, `-T` seconds. The targets below are for the reads; the writes' line reports.
 * After a short unmeasured warm-up of every target, each round runs direct, gateway, pgbouncer,
 * relay back to back for each workload, so drift on this shared machine hits them all alike.
 *
 * How to read it: absolute TPS on a shared 2-core box are noise; read the ratios, which are taken
 * per round from runs made next to each other (median over rounds, with min..max). pgbench, the
 * server and the proxy all share the same 2 cores, so a proxy's CPU per transaction (from /proc,
 * "proxy CPU µs/txn"; the gateway's is this whole process, which does nothing else meanwhile) is
 * taken out of everyone's budget; and the gateway runs on one JS thread, so its throughput is
 * capped near 1 / (its CPU per transaction) whatever the server could do. Targets: gateway ≥ 0.6×
 * direct and ≥ 0.8× pgbouncer. "latency avg" is pgbench's, per transaction, with 8 clients.
 *
 * Before any server starts, the SQL facts cost: `SqlAnalyzer.analyze()` p50/p99 over 2,000
 * samples, uncached and cached, on pgbench's select and update, a 3-table join and a CTE with a
 * DELETE; target: p50 ≤ 30 µs uncached. Setup: `_pg_setup.ts`, `_pg_bouncer.ts`; facts:
 * `_pg_facts.ts`; tables: `_pg_report.ts`.
 *
 * Everything (cluster, pgbouncer, gateway, temp dirs) is removed at the end, on error and on
 * Ctrl-C; every child process runs under a timeout. Exit code 1 on errors, 0 otherwise (a
 * missed target prints FAIL but is not an error).
 *
 * @module
 */

import { postgresAvailable, startPostgres } from "../tests/_postgres.ts";
import { pgbouncerAvailable, startPgbouncer } from "./_pg_bouncer.ts";
import { startBareRelay } from "./_pg_relay.ts";
import { underShippedFlags } from "./_child.ts";
import { measureFacts } from "./_pg_facts.ts";
import { type Cell, report, type Results, type RunInfo, TARGETS } from "./_pg_report.ts";
import {
  BENCH_DB,
  cpuMs,
  pgbench,
  prepareBenchDatabase,
  psql,
  runBounded,
  startBenchGateway,
  type Target,
  withTimeout,
} from "./_pg_setup.ts";

const CLIENTS = 8;
const THREADS = 2;
const SCALE = 10;
const SAMPLES = 2_000;
/** pgbench's options per workload (also its name in the report), and statements per transaction. */
const WORKLOADS = [
  { name: "-S -M simple", statements: 1 },
  { name: "-S -M extended", statements: 1 },
  { name: "-N -M simple", statements: 5 },
] as const;

/** Whose CPU time is the proxy's: the gateway runs in this process; none for direct. */
type Pid = number | "self" | null;

interface Options {
  quick: boolean;
  seconds: number;
  rounds: number;
  warmSeconds: number;
}

function parseOptions(args: string[]): Options {
  const quick = args.includes("--quick");
  const value = (name: string, fallback: number) => {
    const arg = args.find((a) => a.startsWith(`--${name}=`));
    if (!arg) return fallback;
    const n = Number(arg.slice(name.length + 3));
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`Cannot use '${arg}': not a count`);
    return n;
  };
  for (const a of args) {
    if (a !== "--quick" && !/^--(seconds|rounds)=/.test(a)) {
      throw new RangeError(`Unknown option '${a}' (use --quick, --seconds=N, --rounds=N)`);
    }
  }
  return {
    quick,
    seconds: value("seconds", quick ? 5 : 15),
    rounds: value("rounds", quick ? 1 : 3),
    warmSeconds: quick ? 1 : 3,
  };
}

const began = performance.now();
function say(line: string): void {
  console.log(`[${((performance.now() - began) / 1000).toFixed(1).padStart(6)} s] ${line}`);
}

function loadAverage(): string {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
  } catch {
    return "?";
  }
}

/** One timed pgbench run; throws on any failure, so a broken path never reads as slow. */
async function runOnce(
  target: Target,
  workload: string,
  seconds: number,
  proxyPid: Pid,
): Promise<Cell> {
  const args = ["-n", ...workload.split(" "), "-c", `${CLIENTS}`, "-j", `${THREADS}`];
  args.push("-T", `${seconds}`);
  const cpuBefore = proxyPid === null ? NaN : cpuMs(proxyPid);
  const r = await pgbench(target, [...args, BENCH_DB], (seconds + 60) * 1000);
  const cpu = proxyPid === null ? NaN : cpuMs(proxyPid) - cpuBefore;
  const num = (re: RegExp) => Number(re.exec(r.stdout)?.[1] ?? NaN);
  const tps = num(/tps = ([\d.]+) \(without initial connection time\)/);
  const transactions = num(/number of transactions actually processed: (\d+)/);
  const failed = num(/number of failed transactions: (\d+)/);
  if (r.code !== 0 || r.timedOut || !(tps > 0) || failed > 0) {
    throw new Error(
      `pgbench ${workload} against ${target.name} failed (exit ${r.code}` +
        `${r.timedOut ? ", timed out" : ""}):\n${
          r.stderr.trim().split("\n").slice(-15).join("\n")
        }` +
        `\n${r.stdout.trim().split("\n").slice(-15).join("\n")}`,
    );
  }
  return {
    tps,
    latencyMs: num(/latency average = ([\d.]+) ms/),
    transactions,
    proxyCpuUs: cpu * 1000 / transactions,
  };
}

async function version(cmd: string, args: string[]): Promise<string> {
  const r = await runBounded(cmd, args, {}, 10_000).catch(() => null);
  return r?.code === 0 ? r.stdout.trim().split("\n")[0] : "?";
}

async function main(): Promise<number> {
  const options = parseOptions(Deno.args);
  const command = ["deno run -A bench/postgres.ts", ...Deno.args].join(" ");
  const loadBefore = loadAverage();
  const cleanups: { what: string; run: () => Promise<void> }[] = [];
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    cleaning ??= (async () => {
      for (const c of cleanups.reverse()) {
        await withTimeout(c.run(), 30_000, c.what).catch((e) => console.error(`cleanup: ${e}`));
      }
    })();
  let interrupt = false;
  const interrupted = async () => {
    interrupt = true;
    console.error("interrupted: cleaning up");
    await cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", interrupted);
  Deno.addSignalListener("SIGTERM", interrupted);
  let gatewayLog: { lines: { level: string; message: string }[] } | undefined;
  try {
    say(`SQL facts: ${SAMPLES} samples per statement, uncached and cached`);
    const facts = await measureFacts(SAMPLES);

    if (!postgresAvailable()) throw new Error("PostgreSQL 15 server binaries not found");
    say("starting PostgreSQL");
    const cluster = await startPostgres({ settings: { max_connections: "100" } });
    cleanups.push({ what: "PostgreSQL stop", run: () => cluster.stop() });
    say(`pgbench -i -s ${SCALE} (role and database '${BENCH_DB}')`);
    const { direct, verifier } = await prepareBenchDatabase(cluster, SCALE);

    say("starting the gateway (in process)");
    const gw = await startBenchGateway(cluster.port, direct.password);
    cleanups.push({ what: "gateway stop", run: () => gw.stop() });
    gatewayLog = gw.log;
    // The gateway must really be deciding: reads pass, DDL is denied (and so never runs).
    const read = await psql(gw.target, "SELECT count(*) FROM pgbench_branches");
    if (read.code !== 0 || read.stdout.trim() !== String(SCALE)) {
      throw new Error(`SELECT through the gateway failed: ${read.stderr.trim()}`);
    }
    const ddl = await psql(gw.target, "DROP TABLE pgbench_history");
    if (ddl.code === 0 || !/denied by clawpatrol/.test(ddl.stderr)) {
      throw new Error(`DROP TABLE through the gateway was not denied: ${ddl.stderr.trim()}`);
    }

    const targets: { target: Target; pid: Pid }[] = [
      { target: direct, pid: null },
      { target: gw.target, pid: "self" },
    ];
    if (pgbouncerAvailable()) {
      say("starting pgbouncer (session mode)");
      const bouncer = await startPgbouncer(cluster.port, direct, verifier, CLIENTS + 2);
      cleanups.push({ what: "pgbouncer stop", run: () => bouncer.stop() });
      targets.push({ target: bouncer.target, pid: bouncer.pid });
    } else {
      say("pgbouncer not found at /usr/sbin/pgbouncer: its column is skipped");
    }
    say("starting the bare relay (Deno.Conn, no parsing: the floor)");
    const relay = await startBareRelay(cluster.port, direct);
    cleanups.push({ what: "bare relay stop", run: () => relay.stop() });
    targets.push({ target: relay.target, pid: relay.pid });

    // Statements pgbench completed through the gateway, to compare with its receipts.
    let throughGateway = 0;
    const measure = async (
      target: Target,
      workload: typeof WORKLOADS[number],
      seconds: number,
      pid: Pid,
    ) => {
      const cell = await runOnce(target, workload.name, seconds, pid);
      if (target === gw.target) throughGateway += cell.transactions * workload.statements;
      return cell;
    };
    say(`warm-up: ${options.warmSeconds} s per target and workload (not measured)`);
    for (const workload of WORKLOADS) {
      for (const { target, pid } of targets) {
        await measure(target, workload, options.warmSeconds, pid);
      }
    }

    const results: Results = new Map(
      WORKLOADS.map((w) => [w.name, { direct: [], gateway: [], pgbouncer: [], relay: [] }]),
    );
    for (let round = 1; round <= options.rounds; round++) {
      for (const workload of WORKLOADS) {
        for (const { target, pid } of targets) {
          const cell = await measure(target, workload, options.seconds, pid);
          results.get(workload.name)![target.name as typeof TARGETS[number]].push(cell);
          say(
            `round ${round}/${options.rounds} ${workload.name.padEnd(14)} ` +
              `${target.name.padEnd(9)} ${Math.round(cell.tps).toString().padStart(6)} tps`,
          );
        }
      }
    }

    const receipts = await gw.receipts();
    const serverVersion = (await cluster.sql("SHOW server_version")).trim();
    const commit = await version("git", ["rev-parse", "--short", "HEAD"]);
    const environment = [
      `commit ${commit}, deno ${Deno.version.deno}, PostgreSQL ${serverVersion}`,
      await version("/usr/bin/pgbench", ["--version"]),
      await version("/usr/sbin/pgbouncer", ["--version"]),
      `${navigator.hardwareConcurrency} CPUs, load average ${loadBefore} → ${loadAverage()}`,
    ].join("; ");
    const info: RunInfo = {
      command,
      clients: CLIENTS,
      threads: THREADS,
      seconds: options.seconds,
      rounds: options.rounds,
      scale: SCALE,
      samples: SAMPLES,
      environment,
      notes: [
        `The gateway wrote ${receipts.toLocaleString("en-US")} receipts (one per statement, ` +
        `2 from the setup checks) for the ${throughGateway.toLocaleString("en-US")} ` +
        `statements of the transactions pgbench completed through it, warm-up included.`,
      ],
    };
    const { text } = report(info, results, facts);
    console.log(`\n${text}\n`);
    console.log(`JSON ${JSON.stringify({ command, results: Object.fromEntries(results), facts })}`);
    return 0;
  } catch (err) {
    if (interrupt) return 130; // the failure is the cleanup pulling servers away
    console.error(`bench/postgres.ts failed: ${(err as Error)?.stack ?? err}`);
    const errors = gatewayLog?.lines.filter((l) => l.level === "error" || l.level === "warn");
    for (const l of errors?.slice(-10) ?? []) console.error(`gateway ${l.level}: ${l.message}`);
    return 1;
  } finally {
    say("cleaning up");
    await cleanup();
    Deno.removeSignalListener("SIGINT", interrupted);
    Deno.removeSignalListener("SIGTERM", interrupted);
  }
}

// The gateway runs in this process: under the launcher's V8 flags, as it ships.
Deno.exit(await underShippedFlags(import.meta.filename!) ?? await main());
