/**
 * Revoking or rotating an agent ends its open Postgres sessions and Kubernetes connections
 * within a second (the gateway polls the agents file every 200 ms), each with a receipt and a
 * count in `clawpatrol_sessions_ended_total`; other agents' sessions carry on. The registry is
 * changed through the file, as the CLI does from another process.
 */

import assert from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";

import { pgClusterTest, withPgGateway } from "./_pg_fixture.ts";
import { RawPg, types } from "./_pg_raw.ts";
import { withK8sGateway } from "./_k8s_fixture.ts";
import { eventually, withTimeout } from "./_helpers.ts";
import { query } from "../src/protocols/postgres/_encode.ts";
import type { Gateway } from "../src/gateway/mod.ts";

/** What a loaded shared machine may take; the design target is under a second. */
const BOUND_MS = 5_000;

function sessionsEnded(gateway: Gateway, protocol: string, cause: string): number {
  const text = gateway.metrics.registry.render();
  const line = text.split("\n").find((l) =>
    l.startsWith("clawpatrol_sessions_ended_total{") && l.includes(`protocol="${protocol}"`) &&
    l.includes(`cause="${cause}"`)
  );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
}

pgClusterTest(
  "revoking or rotating an agent ends its open Postgres sessions",
  async (t, cluster) => {
    await withPgGateway(cluster, {}, async (fx) => {
      const bystander = await RawPg.login(fx.port(), "agent_ro", fx.token);

      await t.step(
        "revoke: FATAL 57P01, the running statement cancelled, a receipt",
        async () => {
          const token = fx.registry.add("rev-pg", "bots");
          // The gateway sees a new agent once it re-reads the file (at most 100 ms later).
          const c = await eventually(
            "a login as rev-pg",
            () => RawPg.login(fx.port(), "agent_ro", token),
          );
          await c.send(query("select 1"));
          assert.equal(types(await c.untilReady()), "T D C Z");
          await c.send(query("select pg_sleep(60) as revoked_sleep"));
          await eventually(
            "the sleep running upstream",
            async () => (await running(cluster.sql.bind(cluster), "revoked_sleep")) || undefined,
          );

          const started = performance.now();
          fx.registry.revoke("rev-pg");
          const seen = await c.untilClosed();
          const ms = performance.now() - started;
          console.log(`postgres session of a revoked agent ended after ${ms.toFixed(0)} ms`);
          assert.ok(ms < BOUND_MS, `ended after ${ms} ms`);
          const fatal = seen.find((s) => s.type === "E");
          assert.equal(fatal?.code, "57P01");
          assert.match(fatal!.message!, /^clawpatrol: agent credentials were revoked$/);
          // The statement the agent left behind does not run on.
          await eventually(
            "the sleep cancelled upstream",
            async () =>
              (await running(cluster.sql.bind(cluster), "revoked_sleep")) ? undefined : true,
          );
          await assert.rejects(RawPg.login(fx.port(), "agent_ro", token));

          const receipts = await fx.receipts();
          const ended = receipts.filter((r) =>
            r.agent === "rev-pg" && r.summary === "session ended"
          );
          assert.deepEqual(
            ended.map((r) => [r.protocol, r.endpoint, r.verdict, r.reason]),
            [["postgres", "pg", "deny", "agent revoked"]],
          );
          assert.equal(sessionsEnded(fx.gateway, "postgres", "revoked"), 1);
        },
      );

      await t.step(
        "rotate: a SCRAM session with the old token ends; the new one logs in",
        async () => {
          const old = fx.registry.add("rot-pg", "bots");
          const connect = async (password: string) => {
            const c = new pg.Client({
              host: "127.0.0.1",
              port: fx.port(),
              user: "agent_ro",
              password,
              database: "app",
            });
            try {
              await c.connect();
              return c;
            } catch (err) {
              await c.end().catch(() => {});
              throw err;
            }
          };
          const c = await eventually("a login as rot-pg", () => connect(old));
          const errors: (Error & { code?: string })[] = [];
          c.on("error", (err: Error) => errors.push(err));
          const ended = new Promise<void>((resolve) => c.on("end", () => resolve()));
          assert.equal((await c.query("select 1 as x")).rows[0].x, 1);

          const started = performance.now();
          const fresh = fx.registry.rotate("rot-pg");
          await withTimeout(ended, BOUND_MS, "the rotated session to end");
          const ms = performance.now() - started;
          console.log(`postgres session of a rotated agent ended after ${ms.toFixed(0)} ms`);
          // npm:pg reports the FATAL, then (maybe) the closed connection.
          assert.equal(errors[0]?.code, "57P01", String(errors));
          assert.match(errors[0].message, /agent credentials were rotated/);

          const again = await connect(fresh);
          assert.equal((await again.query("select 2 as x")).rows[0].x, 2);
          await again.end();
          const receipts = await fx.receipts();
          assert.ok(receipts.some((r) =>
            r.agent === "rot-pg" && r.summary === "session ended" &&
            r.reason === "agent token rotated"
          ));
          assert.equal(sessionsEnded(fx.gateway, "postgres", "rotated"), 1);
        },
      );

      await t.step("the other agent's session was never touched", async () => {
        await bystander.send(query("select 1"));
        assert.equal(types(await bystander.untilReady()), "T D C Z");
        bystander.close();
      });
    });
  },
);

/** Whether a backend is running a query containing `marker` (other than this lookup). */
async function running(sql: (s: string) => Promise<string>, marker: string): Promise<boolean> {
  const out = await sql(
    `select count(*) from pg_stat_activity where query like '%${marker}%' ` +
      `and pid <> pg_backend_pid() and state = 'active'`,
  );
  return out.trim() !== "0";
}

/** One HTTP/1.1 response read off `conn`: status and whether the connection stays open. */
async function readResponse(conn: Deno.Conn): Promise<number> {
  const decoder = new TextDecoder();
  let text = "";
  const buf = new Uint8Array(16 * 1024);
  const complete = () => {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) return false;
    const head = text.slice(0, end).toLowerCase();
    const body = text.slice(end + 4);
    const length = /content-length: *(\d+)/.exec(head);
    if (length) return new TextEncoder().encode(body).length >= Number(length[1]);
    return /transfer-encoding: *chunked/.test(head) ? body.endsWith("0\r\n\r\n") : true;
  };
  while (!complete()) {
    const n = await withTimeout(conn.read(buf), BOUND_MS, "a response");
    if (n === null) throw new Error(`connection closed mid-response: ${text}`);
    text += decoder.decode(buf.subarray(0, n), { stream: true });
  }
  return Number(text.slice(9, 12));
}

Deno.test({
  name: "revoking or rotating an agent closes its open Kubernetes connections",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const u = new URL(fx.url());
      /** A keep-alive connection that served one request for `token`. */
      const open = (token: string) =>
        eventually("a 200 on a kept-alive connection", async () => {
          const conn = await Deno.connectTls({
            hostname: u.hostname,
            port: Number(u.port),
            caCerts: [fx.caPem],
          });
          await conn.write(new TextEncoder().encode(
            `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: ${u.host}\r\n` +
              `Authorization: Bearer ${token}\r\n\r\n`,
          ));
          const status = await readResponse(conn).catch(() => 0);
          if (status === 200) return conn;
          conn.close();
          return undefined;
        });
      const closedWithin = async (conn: Deno.Conn, change: () => void, what: string) => {
        const started = performance.now();
        change();
        const n = await withTimeout(
          conn.read(new Uint8Array(1024)).catch(() => null),
          BOUND_MS,
          what,
        );
        const ms = performance.now() - started;
        assert.equal(n, null, "the gateway closed the connection without a response");
        try {
          conn.close();
        } catch {
          // Already closed.
        }
        return ms;
      };

      const keeps = await open(fx.token);
      const revoked = await open(fx.registry.add("rev-k8s", "ops"));
      const ms = await closedWithin(
        revoked,
        () => fx.registry.revoke("rev-k8s"),
        "the revoked agent's connection to close",
      );
      console.log(`kubernetes connection of a revoked agent closed after ${ms.toFixed(0)} ms`);
      const rotated = await open(fx.registry.add("rot-k8s", "ops"));
      await closedWithin(
        rotated,
        () => fx.registry.rotate("rot-k8s"),
        "the rotated agent's connection to close",
      );

      // The bot's connection is still open and served.
      await keeps.write(new TextEncoder().encode(
        `GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: ${u.host}\r\n` +
          `Authorization: Bearer ${fx.token}\r\n\r\n`,
      ));
      assert.equal(await readResponse(keeps), 200);
      keeps.close();

      const receipts = await fx.receipts();
      const ended = receipts.filter((r) => r.summary === "session ended");
      assert.deepEqual(
        ended.map((r) => [r.protocol, r.agent, r.endpoint, r.reason]),
        [
          ["kubernetes", "rev-k8s", "cluster", "agent revoked"],
          ["kubernetes", "rot-k8s", "cluster", "agent token rotated"],
        ],
      );
      assert.equal(sessionsEnded(fx.gateway, "kubernetes", "revoked"), 1);
      assert.equal(sessionsEnded(fx.gateway, "kubernetes", "rotated"), 1);
    }),
});
