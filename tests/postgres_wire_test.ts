/**
 * The Postgres gateway at the byte level: pipelines around a denial, FunctionCall, COPY,
 * notices, cancel requests, and hostile input (malformed frames, a 2 GB length header, oversize
 * messages, a stalled startup, garbage TLS). Each bad client gets a clean error and a receipt;
 * other sessions carry on.
 */

import assert from "node:assert/strict";
import { postgresAvailable, startPostgres } from "./_postgres.ts";
import { prepareCluster, withPgGateway } from "./_pg_fixture.ts";
import { FUNCTION_CALL, RawPg, serialize, types } from "./_pg_raw.ts";
import { joinBytes } from "../src/core/mod.ts";
import {
  cancelRequest,
  passwordMessage,
  query,
  sslRequest,
  startupMessage,
} from "../src/protocols/postgres/_encode.ts";

const ignore = !postgresAvailable();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const bytes = (...parts: Uint8Array[]) => joinBytes(parts);

Deno.test({
  name: "postgres gateway wire protocol",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async (t) => {
    const cluster = await startPostgres();
    try {
      await prepareCluster(cluster);
      const limits = `body_buffer = "64KiB"\n    header_timeout = "1s"`;
      await withPgGateway(cluster, { limits }, async (fx) => {
        const login = (endpoint = "pg", user = "agent_ro") =>
          RawPg.login(fx.port(endpoint), user, fx.token);
        const bystander = await login();

        await t.step(
          "a statement denied at its Execute in a pipeline: one error, one ReadyForQuery, in sync",
          async () => {
            const c = await login();
            await c.send(bytes(
              serialize.parse({ text: "drop table users" }),
              serialize.bind({}),
              serialize.execute({}),
              serialize.sync(),
              serialize.parse({ text: "select 41 + 1" }),
              serialize.bind({}),
              serialize.execute({}),
              serialize.sync(),
            ));
            // Parse and Bind run nothing: the Execute is the action, decided and denied.
            const first = await c.untilReady();
            assert.equal(types(first), "1 2 E Z");
            assert.equal(first[2].code, "42501");
            assert.match(first[2].message!, /^denied by clawpatrol: Schema changes land/);
            assert.equal(first[3].status, "I");
            const second = await c.untilReady();
            assert.equal(types(second), "1 2 D C Z");
            c.close();
          },
        );

        await t.step(
          "a deny after earlier work in the same batch rolls that work back",
          async () => {
            const c = await login("pgrw", "agent_rw");
            await cluster.sql("create table if not exists audit_probe (x int)", "app");
            await cluster.sql("grant all on audit_probe to agent_rw", "app");
            // pgrw allows everything, so deny via a FunctionCall in the middle of a batch.
            await c.send(bytes(
              serialize.parse({ text: "insert into audit_probe values (1)" }),
              serialize.bind({}),
              serialize.execute({}),
              FUNCTION_CALL,
            ));
            const seen = await c.untilReady();
            assert.equal(types(seen), "1 2 C E Z");
            assert.equal(seen[3].code, "42501");
            assert.equal(await cluster.sql("select count(*) from audit_probe", "app"), "0\n");
            c.close();
          },
        );

        await t.step(
          "with parameter rules, an Execute of a SQL-PREPAREd statement is decided with its Bind's parameters",
          async () => {
            const c = await login("pgparams");
            await c.send(query("prepare sqlp(text) as select $1"));
            assert.equal(types(await c.untilReady()), "C Z");
            const bind = (value: string, statement = "sqlp") =>
              bytes(
                serialize.bind({ statement, values: [value] }),
                serialize.execute({}),
                serialize.sync(),
              );
            await c.send(bind("x"));
            assert.equal(types(await c.untilReady()), "2 D C Z");
            await c.send(bind("forbidden"));
            const denied = await c.untilReady();
            assert.equal(types(denied), "2 E Z");
            assert.match(denied[1].message!, /forbidden parameter/);
            await c.send(bind("x", "never_prepared"));
            const unknown = await c.untilReady();
            assert.equal(types(unknown), "E Z");
            assert.match(unknown[0].message!, /was not prepared through clawpatrol/);
            c.close();
          },
        );

        await t.step("FunctionCall is denied with a receipt; the session continues", async () => {
          const c = await login();
          await c.send(FUNCTION_CALL);
          const seen = await c.untilReady();
          assert.equal(types(seen), "E Z");
          assert.match(seen[0].message!, /function call protocol is not allowed/);
          await c.send(query("select 1"));
          assert.equal(types(await c.untilReady()), "T D C Z");
          c.close();
        });

        await t.step("COPY in and out relay after the COPY statement is allowed", async () => {
          const r = await fx.psql(
            "create table copied (x int);\ncopy copied from stdin;\n1\n2\n\\.\ncopy copied to stdout;\n",
            { endpoint: "pgrw" },
          );
          assert.equal(r.stdout, "1\n2\n", r.stderr);
        });

        await t.step("notices and notifications reach the agent", async () => {
          const r = await fx.psql(
            "do $$ begin raise notice 'hello from upstream'; end $$;\nlisten ch;\nnotify ch, 'payload';\n",
            { endpoint: "pgrw" },
          );
          assert.match(r.stderr, /NOTICE: {2}hello from upstream/);
          assert.match(
            r.stdout + r.stderr,
            /Asynchronous notification "ch" with payload "payload"/,
          );
        });

        await t.step(
          "CancelRequest with the gateway's key cancels the upstream query",
          async () => {
            const c = await login();
            await c.send(query("select pg_sleep(30)"));
            await sleep(200);
            const canceller = await RawPg.open(fx.port());
            await canceller.send(cancelRequest(c.key!.pid, c.key!.secret));
            canceller.close();
            const seen = await c.untilReady();
            assert.ok(seen.some((s) => s.code === "57014"), types(seen));
            c.close();
          },
        );

        await t.step(
          "a client that disconnects mid-query: statement cancelled, receipt closed",
          async () => {
            const c = await login();
            await c.send(query("select pg_sleep(29)"));
            await sleep(200);
            c.close();
            let running = "1\n";
            for (let i = 0; i < 50 && running !== "0\n"; i++) {
              await sleep(100);
              running = await cluster.sql(
                "select count(*) from pg_stat_activity where query = 'select pg_sleep(29)' and state = 'active'",
              );
            }
            assert.equal(running, "0\n");
            const receipt = (await fx.receipts()).find((r) => r.summary === "select pg_sleep(29)");
            assert.equal(receipt?.verdict, "allow");
            assert.match(receipt?.reason ?? "", /client disconnected/);
          },
        );

        await t.step(
          "a client gone before the upstream login finished leaves no upstream session",
          async () => {
            const c = await RawPg.open(fx.port());
            await c.send(bytes(
              startupMessage([["user", "agent_ro"], ["database", "postgres"]]),
              passwordMessage(fx.token),
            ));
            c.close();
            const count = () =>
              cluster.sql(
                "select count(*) from pg_stat_activity where usename = 'agent_ro' and datname = 'postgres'",
              );
            let n = "1\n";
            for (let i = 0; i < 50 && n !== "0\n"; i++) {
              await sleep(100);
              n = await count();
            }
            assert.equal(n, "0\n");
          },
        );

        await t.step("a malformed frame: FATAL 08P01, receipt, others unaffected", async () => {
          const c = await login();
          await c.send(new Uint8Array([0x51, 0, 0, 0, 3])); // Query with length 3 < 4
          const seen = await c.untilClosed();
          assert.equal(seen.at(-1)?.code, "08P01");
          c.close();
          await bystander.send(query("select 1"));
          assert.equal(types(await bystander.untilReady()), "T D C Z");
          const receipts = await fx.receipts();
          assert.ok(receipts.some((r) => r.summary === "malformed message"));
        });

        await t.step("a 2 GB length header is refused at once with 54000", async () => {
          const c = await login();
          await c.send(new Uint8Array([0x51, 0x7f, 0xff, 0xff, 0xff]));
          const seen = await c.untilClosed();
          assert.equal(seen.at(-1)?.code, "54000");
          c.close();
        });

        await t.step(
          "an oversize query (beyond body_buffer) is refused, never forwarded",
          async () => {
            const c = await login();
            await c.send(query(`select '${"x".repeat(100_000)}'`));
            const seen = await c.untilClosed();
            assert.equal(seen.at(-1)?.code, "54000");
            c.close();
          },
        );

        await t.step("garbage instead of a startup packet gets an error", async () => {
          const c = await RawPg.open(fx.port());
          await c.send(new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
          const seen = await c.untilClosed();
          // "GET " read as a length word is 1.2 GB: refused as oversize before anything else.
          assert.equal(seen.at(-1)?.code, "54000");
          const receipts = await fx.receipts();
          assert.ok(
            receipts.some((r) => r.summary === "login" && /exceeds|too large|limit/.test(r.reason)),
          );
          c.close();
        });

        await t.step("GSSENCRequest is answered N and the startup continues", async () => {
          const c = await RawPg.open(fx.port());
          await c.send(new Uint8Array([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]));
          assert.deepEqual(await c.readRaw(), new Uint8Array([0x4e]));
          c.close();
        });

        await t.step(
          "bytes pipelined behind SSLRequest are refused (no TLS downgrade tricks)",
          async () => {
            const c = await RawPg.open(fx.port());
            await c.send(bytes(sslRequest(), query("select 1")));
            const seen = await c.untilClosed();
            assert.equal(seen.at(-1)?.code, "08P01");
            c.close();
          },
        );

        await t.step("garbage instead of a TLS handshake: closed, with a receipt", async () => {
          const c = await RawPg.open(fx.port());
          await c.send(sslRequest());
          assert.deepEqual(await c.readRaw(), new Uint8Array([0x53]));
          await c.send(new TextEncoder().encode("this is not a TLS ClientHello at all\r\n"));
          while (await c.readRaw() !== null) { /* drain until closed */ }
          c.close();
          await sleep(50);
          const receipts = await fx.receipts();
          assert.ok(receipts.some((r) => r.reason === "TLS handshake failed"));
        });

        await t.step(
          "a stalled startup (slowloris) is cut off with an error and a receipt",
          async () => {
            const c = await RawPg.open(fx.port());
            await c.send(new Uint8Array([0, 0, 0])); // Part of a length word, then nothing.
            const seen = await c.untilClosed();
            assert.equal(seen.at(-1)?.code, "08P01");
            c.close();
            const receipts = await fx.receipts();
            assert.ok(receipts.some((r) => r.reason === "startup timed out"));
          },
        );

        await t.step("after all that, the first session still works", async () => {
          await bystander.send(query("select count(*) from users"));
          const seen = await bystander.untilReady();
          assert.equal(types(seen), "T D C Z");
          bystander.close();
        });
      });
    } finally {
      await cluster.stop();
    }
  },
});
