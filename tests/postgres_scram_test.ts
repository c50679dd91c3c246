/**
 * Agents log in to the Postgres gateway with SCRAM-SHA-256: channel binding over the gateway's
 * TLS (psql `channel_binding=require`), plain SCRAM without TLS, wrong tokens refused with 28P01,
 * and npm:pg's SCRAM client.
 */

import assert from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { prepareCluster, withPgGateway } from "./_pg_fixture.ts";
import { RawPg } from "./_pg_raw.ts";
import { startupMessage } from "../src/protocols/postgres/_encode.ts";

const ignore = !postgresAvailable();

Deno.test({
  name: "postgres gateway authenticates agents with SCRAM-SHA-256",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const cluster = await startPostgres();
    try {
      await prepareCluster(cluster);
      await withPgGateway(cluster, {}, async (fx) => {
        await t.step("psql with channel_binding=require over TLS runs a query", async () => {
          const out = await fx.psql("select 1;\n", {
            conninfo: "sslmode=require channel_binding=require",
          });
          assert.equal(out.stderr, "");
          assert.equal(out.stdout.trim(), "1");
          assert.equal(out.code, 0);
        });

        await t.step("psql without TLS logs in with plain SCRAM", async () => {
          const out = await fx.psql("select 1;\n", {
            conninfo: "sslmode=disable channel_binding=disable",
          });
          assert.equal(out.stderr, "");
          assert.equal(out.stdout.trim(), "1");
          // What psql was asked for: SASL with SCRAM-SHA-256 only (no PLUS without TLS).
          const raw = await RawPg.open(fx.port());
          try {
            await raw.send(startupMessage([["user", "agent_ro"], ["database", "app"]]));
            const auth = await raw.next();
            assert.equal(auth.type, "R");
            const body = auth.frame.body;
            assert.equal(new DataView(body.buffer, body.byteOffset).getInt32(0), 10);
            assert.equal(new TextDecoder().decode(body.subarray(4)), "SCRAM-SHA-256\0\0");
          } finally {
            raw.close();
          }
        });

        await t.step("psql over TLS without channel binding uses plain SCRAM", async () => {
          const out = await fx.psql("select 1;\n", {
            conninfo: "sslmode=require channel_binding=disable",
          });
          assert.equal(out.stderr, "");
          assert.equal(out.stdout.trim(), "1");
        });

        await t.step("a wrong token fails SCRAM with 28P01 and a receipt", async () => {
          const before = (await fx.receipts()).length;
          const out = await fx.psql("select 1;\n", {
            conninfo: "sslmode=require channel_binding=require",
            password: "cpat_not-the-token",
          });
          assert.notEqual(out.code, 0);
          assert.match(out.stderr, /password authentication failed for user "agent_ro"/);
          const receipts = await fx.receipts();
          assert.ok(receipts.length > before, "the refused login leaves a receipt");
        });

        await t.step("npm:pg logs in with SCRAM and runs a query", async () => {
          const c = new pg.Client({
            host: "127.0.0.1",
            port: fx.port(),
            user: "agent_ro",
            password: fx.token,
            database: "app",
          });
          const seen: string[] = [];
          // deno-lint-ignore no-explicit-any
          const connection = (c as any).connection;
          connection.on("authenticationSASL", () => seen.push("sasl"));
          connection.on("authenticationSASLFinal", () => seen.push("final"));
          await c.connect();
          try {
            const r = await c.query("select 1 as x");
            assert.equal(r.rows[0].x, 1);
            assert.deepEqual(seen, ["sasl", "final"]);
          } finally {
            await c.end();
          }
        });
      });
    } finally {
      await cluster.stop();
    }
  },
});
