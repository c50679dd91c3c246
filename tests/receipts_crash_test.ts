/**
 * Crash harness (issue 16): mixed Postgres and HTTPS load through a `clawpatrol serve`
 * subprocess, SIGKILLed at a seeded-random point and restarted on the same state dir, round
 * after round. Ground truth is what the upstreams executed: PostgreSQL's own statement log
 * (`log_statement = all`) and the HTTPS upstream's request log, both outside the gateway. Every
 * state-changing action they saw (INSERT, UPDATE, POST) must have a receipt, because the gateway
 * makes that receipt durable before forwarding it; provable reads (SELECT, GET) are
 * group-committed, so the last commit interval's may be lost and are only counted.
 *
 * Env: CLAWPATROL_CRASH_SEED replays a run (the seed is printed); CLAWPATROL_CRASH_ROUNDS
 * (default 10) sets the number of kills.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { dirname, join } from "node:path";
// Test-only driver, named here rather than in deno.json so installs never fetch it.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { withTimeout } from "./_helpers.ts";
import {
  type GatewayDir,
  killHard,
  MARKER,
  prepareGateway,
  proxyClient,
  receiptMarkers,
  roundOf,
  send,
  serve,
  type Served,
  startUpstream,
  verifyLog,
  WRITE_KINDS,
} from "./_crash_load.ts";
import { seededRandom, seedFrom } from "./_rng.ts";

const SEED = seedFrom("CLAWPATROL_CRASH_SEED");
const ROUNDS = Number(Deno.env.get("CLAWPATROL_CRASH_ROUNDS") || 10);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) {
  throw new Error("CLAWPATROL_CRASH_ROUNDS must be a whole number of at least 1");
}
const COMMIT_INTERVAL_MS = 50;
const PG_CLIENTS = 3;
const HTTP_CLIENTS = 2;
/** Each round's load runs this long (seeded within the range), then the gateway is SIGKILLed. */
const KILL_AFTER_MS = [700, 2_500] as const;
const AGENT_PASSWORD = "crash-Upstream-Secret-5d1e";

/** What one round's load did, besides what the upstreams logged. */
interface RoundResult {
  killAt: number;
  issued: number;
  /** Failures before the kill: the harness itself broke if there are many. */
  earlyErrors: string[];
}

/**
 * Runs the mixed load against `served` and SIGKILLs the gateway `killAfterMs` after it starts,
 * with actions in flight. Resolves once every client has stopped.
 */
async function roundOfLoad(
  round: number,
  served: Served,
  dir: GatewayDir,
  random: () => number,
  killAfterMs: number,
): Promise<RoundResult> {
  const result: RoundResult = { killAt: 0, issued: 0, earlyErrors: [] };
  let killed = false;
  const kill = () => {
    if (killed) return;
    killed = true;
    result.killAt = Date.now();
    served.gw.kill();
  };
  const pgClients = Array.from({ length: PG_CLIENTS }, () =>
    new pg.Client({
      host: "127.0.0.1",
      port: served.pgPort,
      user: "agent_rw",
      password: dir.token,
      database: "app",
    }));
  // A dead gateway must not crash the test process through an unhandled 'error' event.
  for (const c of pgClients) c.on("error", () => {});
  await Promise.all(pgClients.map((c) => c.connect()));
  const httpClients = Array.from({ length: HTTP_CLIENTS }, () => proxyClient(served, dir));
  // The fault injection point itself, not a wait for something to happen.
  const timer = setTimeout(kill, killAfterMs);
  let n = 0;
  const issue = (kind: string) => {
    const marker = `${kind}-${round}-${++n}`;
    result.issued = n;
    return marker;
  };
  const failed = (err: unknown) => {
    if (!killed) result.earlyErrors.push(String(err));
  };
  const pgWorker = async (c: InstanceType<typeof pg.Client>) => {
    while (!killed) {
      const r = random();
      // Simple-protocol queries, so PostgreSQL logs each as one `statement:` line. One marker
      // per statement: a second one would let this receipt stand in for another action's.
      const sql = r < 0.35
        ? `insert into crash_t (id) values ('${issue("m")}')`
        : r < 0.55
        ? `update crash_t set n = n + 1, last = '${
          issue("u")
        }' where id = (select max(id) from crash_t)`
        : `select '${issue("r")}' as marker`;
      try {
        await c.query(sql);
      } catch (err) {
        failed(err);
        return;
      }
    }
  };
  const httpWorker = async (client: Deno.HttpClient) => {
    while (!killed) {
      const post = random() < 0.5;
      const path = post ? `/w/${issue("p")}` : `/r/${issue("g")}`;
      try {
        const res = await send(client, post ? "POST" : "GET", path);
        if (res.status !== 200) failed(`${path}: HTTP ${res.status} ${res.body}`);
      } catch (err) {
        failed(err);
        return;
      }
    }
  };
  try {
    await withTimeout(
      Promise.all([...pgClients.map(pgWorker), ...httpClients.map(httpWorker)]),
      killAfterMs + 15_000,
      `round ${round}'s clients to stop after the kill`,
    );
  } finally {
    clearTimeout(timer);
    kill();
    await Promise.all(pgClients.map((c) => withTimeout(c.end(), 5_000, "pg end").catch(() => {})));
    for (const c of httpClients) c.close();
  }
  return result;
}

/** How long before its round's kill an action executed (after, when the upstream lagged). */
function relative(ms: number): string {
  return ms >= 0 ? `${ms} ms before its kill` : `${-ms} ms after its kill`;
}

/** Markers PostgreSQL logged as executed statements, with the log line's time. */
async function loggedStatements(logFile: string): Promise<Map<string, number>> {
  const text = await Deno.readTextFile(logFile);
  const seen = new Map<string, number>();
  // `%m [%p] ` prefix in UTC: `2026-01-31 12:00:00.123 UTC [42] LOG:  statement: …`
  const line =
    /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC \[\d+\] LOG: +(?:statement|execute [^:]*): (.*)$/;
  for (const l of text.split("\n")) {
    const m = l.match(line);
    if (!m) continue;
    const at = Date.parse(`${m[1]}T${m[2]}Z`);
    for (const marker of m[3].matchAll(MARKER)) seen.set(marker[0], at);
  }
  return seen;
}

Deno.test({
  name: "receipts survive kill -9: every write an upstream executed has a receipt",
  ignore: !postgresAvailable(),
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const started = Date.now();
    console.log(`crash harness seed=${SEED} (replay: CLAWPATROL_CRASH_SEED=${SEED})`);
    const random = seededRandom(SEED);
    const cluster = await startPostgres({
      settings: {
        log_statement: "'all'",
        log_line_prefix: "'%m [%p] '",
        log_timezone: "'UTC'",
      },
    });
    const upstream = await startUpstream();
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_crash_" });
    let served: Served | undefined;
    try {
      await cluster.addUser("agent_rw", AGENT_PASSWORD);
      await cluster.sql("CREATE DATABASE app OWNER agent_rw");
      await cluster.sql(
        `CREATE TABLE crash_t (id text PRIMARY KEY, n int NOT NULL DEFAULT 0, last text);
         ALTER TABLE crash_t OWNER TO agent_rw;`,
        "app",
      );
      const gwDir = await prepareGateway({
        dir,
        upstream,
        pg: { port: cluster.port, user: "agent_rw", password: AGENT_PASSWORD },
        commitInterval: `${COMMIT_INTERVAL_MS}ms`,
      });
      const kills = new Map<number, number>();
      const earlyErrors: string[] = [];
      let issued = 0;
      for (let round = 1; round <= ROUNDS + 1; round++) {
        served = await serve(gwDir.config);
        // The restarted gateway recovered the crashed database: its chain must be intact.
        const verified = await verifyLog(gwDir.config);
        equal(verified.code, 0, `log verify after restart ${round - 1}: ${verified.stdout}`);
        if (round > ROUNDS) break;
        const [lo, hi] = KILL_AFTER_MS;
        const r = await roundOfLoad(round, served, gwDir, random, lo + random() * (hi - lo));
        await killHard(served);
        served = undefined;
        kills.set(round, r.killAt);
        issued += r.issued;
        earlyErrors.push(...r.earlyErrors.map((e) => `round ${round}: ${e}`));
      }
      // Stopped cleanly, so the last reads are committed too and the file is quiet.
      await served!.gw.stop("SIGTERM", 15_000);
      served = undefined;

      // tests/_postgres.ts starts the server with `pg_ctl -l <its temp dir>/server.log`.
      const executed = await loggedStatements(join(dirname(cluster.dataDir), "server.log"));
      for (const s of upstream.seen) {
        for (const m of s.path.matchAll(MARKER)) executed.set(m[0], s.at);
      }
      const recorded = receiptMarkers(gwDir.stateDir);
      const missing = [...executed.keys()].filter((m) => !recorded.has(m));
      const isWrite = (m: string) => WRITE_KINDS.has(m[0]);
      const age = (m: string) => kills.get(roundOf(m))! - executed.get(m)!;
      const missingWrites = missing.filter(isWrite);
      const missingReads = missing.filter((m) => !isWrite(m));
      const writes = [...executed.keys()].filter(isWrite).length;
      const readAges = missingReads.map(age);
      const span = readAges.length
        ? ` (newest ${relative(Math.min(...readAges))}, oldest ${relative(Math.max(...readAges))})`
        : "";
      console.log(
        `crash harness: seed=${SEED} rounds=${ROUNDS} issued=${issued} actions seen upstream=` +
          `${executed.size} ` +
          `(writes ${writes}, reads ${executed.size - writes}), receipts with markers=` +
          `${recorded.size}, missing writes=${missingWrites.length}, missing reads=` +
          `${missingReads.length}${span}, errors before kills=${earlyErrors.length}, ${
            Date.now() - started
          } ms`,
      );
      // A harness whose load never ran proves nothing.
      ok(writes >= ROUNDS, `only ${writes} writes reached the upstreams: ${earlyErrors[0]}`);
      equal(
        earlyErrors.length,
        0,
        `the load failed before a kill: ${earlyErrors.slice(0, 5).join("\n")}`,
      );
      equal(
        missingWrites.length,
        0,
        `${missingWrites.length} executed writes have no receipt (seed ${SEED}): ${
          missingWrites.slice(0, 10).map((m) => `${m} (${relative(age(m))})`).join(", ")
        }`,
      );
    } finally {
      if (served) await served.gw.dispose();
      await upstream.close();
      await cluster.stop();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
