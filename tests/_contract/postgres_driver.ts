/**
 * The Postgres listener under the protocol contract: a real PostgreSQL 15 cluster
 * (tests/_postgres.ts) behind tests/_pg_fixture.ts (`withPgGateway`), with node-postgres as the
 * client.
 *
 * Endpoints used: `pg` (read-only rules: SELECT allowed, anything else denied; vaulted password
 * of `agent_ro`) and `pgparams` (a deny rule reads `sql.params`, the rest is allowed: binary
 * Bind parameters leave `sql.params` unknown, so it must deny).
 *
 * @module
 */

// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { postgresAvailable, startPostgres } from "../_postgres.ts";
import { type PgFixture, prepareCluster, RO_PASSWORD, withPgGateway } from "../_pg_fixture.ts";
import { eventually } from "../_helpers.ts";
import {
  type ActionResult,
  type ContractDriver,
  type ContractGateway,
  holdFixture,
  logText,
} from "./contract.ts";

/**
 * Extra rule text appended to the fixture's (which already holds `pg-read-only`, `pg-no-ddl`,
 * `params-forbidden` and `params-rest`): a deny with a reason the contract can recognise.
 */
const RULES = `
rule "contract-deny-delete" {
  endpoint  = postgres.pg
  priority  = 50
  condition = "sql.verbs.exists(v, v == 'delete')"
  verdict   = "deny"
  reason    = "deletes are denied by the contract rules"
}
`;

interface PgError {
  code?: string;
  message: string;
  detail?: string;
}

async function start(rules: string): Promise<ContractGateway> {
  const cluster = await startPostgres();
  let held: { fx: PgFixture; release: () => Promise<void> };
  try {
    await prepareCluster(cluster);
    held = await holdFixture<PgFixture>((fn) => withPgGateway(cluster, { extra: rules }, fn));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  const { fx, release } = held;
  let loggedIn = false;
  const client = (endpoint: string) =>
    new pg.Client({
      host: "127.0.0.1",
      port: fx.port(endpoint),
      user: "agent_ro",
      password: fx.token,
      database: "app",
      connectionTimeoutMillis: 10_000,
    });
  /** One session: connect, run one statement, end. */
  const run = async (
    endpoint: string,
    text: string,
    values: unknown[] = [],
  ): Promise<ActionResult> => {
    const c = client(endpoint);
    await c.connect();
    // The upstream accepted the vaulted password (SCRAM) for this session.
    loggedIn = true;
    try {
      const r = await c.query({ text, values });
      return { ok: true, status: "00000", text: JSON.stringify(r.rows) };
    } catch (err) {
      const e = err as PgError;
      const receipt = /receipt (rcpt_[A-Za-z0-9_-]+)/.exec(e.detail ?? "")?.[1];
      return { ok: false, status: e.code ?? "?", text: `${e.message}\n${e.detail ?? ""}`, receipt };
    } finally {
      await c.end();
    }
  };
  return {
    allowed: (m) => run("pg", `select '${m}' as marker`),
    denied: (m) => run("pg", `delete from users where name = '${m}'`),
    // The bytes spell the forbidden value, but the gateway cannot know a binary parameter's text.
    unevaluable: (m) =>
      run("pgparams", `select $1::bytea as b, '${m}' as marker`, [Buffer.from("forbidden")]),
    disconnectMidAction: async (m) => {
      const sql = `select pg_sleep(5), '${m}' as marker`;
      const c = client("pg");
      // Destroying the socket makes the client emit 'error': expected here.
      c.on("error", () => {});
      await c.connect();
      const running = c.query(sql).then(() => "finished", (e: Error) => e.message);
      try {
        await eventually("the statement running upstream", async () => {
          const n = await fx.pg.sql(
            `select count(*) from pg_stat_activity where state = 'active' and query = '${
              sql.replaceAll("'", "''")
            }'`,
          );
          return n.trim() === "1" || undefined;
        });
      } finally {
        // The client goes away without a Terminate: its socket is simply destroyed.
        (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream
          .destroy();
        await running;
      }
    },
    secretUsed: () => loggedIn,
    receipts: () => fx.receipts(),
    receiptsDb: join(fx.dir, "state", "receipts.db"),
    logLines: () => fx.log.lines.map(logText),
    stop: async () => {
      try {
        await release();
      } finally {
        await cluster.stop();
      }
    },
  };
}

export const postgresDriver: ContractDriver = {
  rules: RULES,
  start,
  secret: RO_PASSWORD,
  gone: /client disconnected|session ended|agent went away/,
  ignore: !postgresAvailable(),
  isNativeDeny: (r) =>
    r.status === "42501" && /denied by clawpatrol/.test(r.text) &&
    (r.receipt?.startsWith("rcpt_") ?? false),
};
