import { deepEqual, equal, ok } from "node:assert/strict";
import { createGatewayCa } from "../../tls/mod.ts";
import { postgresAvailable } from "../../../tests/_postgres.ts";
import { cancelUpstream, connectUpstream } from "./_upstream.ts";
import {
  assertUpstreamError,
  close,
  login,
  PASSWORD,
  query,
  target,
  USER,
  withCluster,
} from "./_upstream_testing.ts";

const ignore = !postgresAvailable();
if (ignore) console.warn("PostgreSQL 15 binaries not found: skipping _upstream_test.ts");

Deno.test(
  { name: "connectUpstream() logs in to a SCRAM cluster without TLS", ignore },
  async (t) => {
    await withCluster({}, async (pg) => {
      await pg.addUser(USER, PASSWORD);

      await t.step("SCRAM login hands over a working, paused session", async () => {
        const params: [string, string][] = [["application_name", "agent-x"], ["user", "cp_super"]];
        const session = await connectUpstream(target(pg), { ...login(), params });
        try {
          equal(session.tls, false);
          equal(session.status, "I");
          ok(session.backendKey && session.backendKey.pid > 0);
          equal(session.backendKey.secret.length, 4);
          ok(
            session.parameters.some(([name, value]) =>
              name === "server_version" && value.startsWith("15")
            ),
          );
          equal(session.socket.listenerCount("data"), 0);
          equal(session.socket.isPaused(), true);
          deepEqual(await query(session, "SELECT 1"), { rows: [["1"]], status: "I" });
          // The smuggled `user` parameter was dropped; application_name passed through.
          deepEqual(
            (await query(session, "SELECT current_user, current_setting('application_name')")).rows,
            [[
              USER,
              "agent-x",
            ]],
          );
        } finally {
          await close(session.socket);
        }
      });

      await t.step(
        "a wrong password is an auth error that names neither password nor user",
        async () => {
          const err = await assertUpstreamError(
            connectUpstream(target(pg), login(USER, "wrong-secret-123")),
            "auth",
            "28P01",
          );
          ok(!err.message.includes("wrong-secret-123") && !err.message.includes(USER), err.message);
        },
      );

      await t.step("a missing database is rejected with 3D000", async () => {
        await assertUpstreamError(
          connectUpstream(target(pg), login(USER, PASSWORD, "no_such_db")),
          "rejected",
          "3D000",
          /database does not exist/,
        );
      });

      await t.step("sslmode=require against a server without SSL is a TLS error", async () => {
        await assertUpstreamError(
          connectUpstream(target(pg, { sslmode: "require" }), login()),
          "tls",
          "08001",
          /does not support SSL/,
        );
      });

      await t.step("sslmode=prefer falls back to plain TCP", async () => {
        const session = await connectUpstream(target(pg, { sslmode: "prefer" }), login());
        equal(session.tls, false);
        deepEqual((await query(session, "SELECT 2")).rows, [["2"]]);
        await close(session.socket);
      });

      await t.step("an aborted signal stops the attempt", async () => {
        await assertUpstreamError(
          connectUpstream(target(pg), login(), AbortSignal.abort()),
          "timeout",
          "08001",
          /aborted/,
        );
      });

      await t.step("cancelUpstream() cancels a running query", async () => {
        const session = await connectUpstream(target(pg), login());
        try {
          const started = Date.now();
          const running = query(session, "SELECT pg_sleep(10)");
          await new Promise((resolve) => setTimeout(resolve, 300));
          await cancelUpstream(target(pg), session.backendKey!);
          const result = await running;
          equal(result.sqlstate, "57014");
          ok(Date.now() - started < 5000, `cancel took ${Date.now() - started} ms`);
        } finally {
          await close(session.socket);
        }
      });
    });
  },
);

Deno.test(
  { name: "connectUpstream() answers md5 and cleartext password requests", ignore },
  async (t) => {
    await t.step("md5", () =>
      withCluster({ hba: "md5" }, async (pg) => {
        await pg.addUser("agent_md5", "md5-pw", "md5");
        const session = await connectUpstream(target(pg), login("agent_md5", "md5-pw"));
        deepEqual((await query(session, "SELECT current_user")).rows, [["agent_md5"]]);
        await close(session.socket);
        await assertUpstreamError(
          connectUpstream(target(pg), login("agent_md5", "nope")),
          "auth",
          "28P01",
        );
      }));
    await t.step("password (cleartext)", () =>
      withCluster({ hba: "password" }, async (pg) => {
        await pg.addUser(USER, PASSWORD);
        const session = await connectUpstream(target(pg), login());
        deepEqual((await query(session, "SELECT 3")).rows, [["3"]]);
        await close(session.socket);
      }));
  },
);

Deno.test({ name: "connectUpstream() over TLS follows libpq's sslmode", ignore }, async (t) => {
  await withCluster({ ssl: true }, async (pg) => {
    await pg.addUser(USER, PASSWORD);
    const sslQuery = "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()";

    for (const sslmode of ["prefer", "require"] as const) {
      await t.step(`sslmode=${sslmode} encrypts without verifying`, async () => {
        const session = await connectUpstream(target(pg, { sslmode }), login());
        equal(session.tls, true);
        deepEqual((await query(session, sslQuery)).rows, [["t"]]);
        await close(session.socket);
      });
    }

    for (const host of ["127.0.0.1", "localhost"]) {
      await t.step(`verify-full with the cluster's CA accepts ${host}`, async () => {
        const session = await connectUpstream(
          target(pg, { host, sslmode: "verify-full", caCert: pg.caCertPem }),
          login(),
        );
        equal(session.tls, true);
        deepEqual((await query(session, sslQuery)).rows, [["t"]]);
        await close(session.socket);
      });
    }

    await t.step("verify-full with another CA fails certificate verification", async () => {
      const dir = await Deno.makeTempDir();
      const other = await createGatewayCa(dir).finally(() => Deno.remove(dir, { recursive: true }));
      await assertUpstreamError(
        connectUpstream(target(pg, { sslmode: "verify-full", caCert: other.certPem }), login()),
        "tls",
        "08001",
        /certificate verify failed/,
      );
    });

    await t.step("verify-full with system roots rejects the private CA", async () => {
      await assertUpstreamError(
        connectUpstream(target(pg, { sslmode: "verify-full" }), login()),
        "tls",
        "08001",
        /certificate verify failed/,
      );
    });

    await t.step("cancelUpstream() cancels over TLS", async () => {
      const tlsTarget = target(pg, { sslmode: "verify-full", caCert: pg.caCertPem });
      const session = await connectUpstream(tlsTarget, login());
      try {
        const running = query(session, "SELECT pg_sleep(10)");
        await new Promise((resolve) => setTimeout(resolve, 300));
        await cancelUpstream(tlsTarget, session.backendKey!);
        equal((await running).sqlstate, "57014");
      } finally {
        await close(session.socket);
      }
    });
  });
});

Deno.test(
  { name: "connectUpstream() verify-full rejects a certificate for another host", ignore },
  async () => {
    await withCluster({ ssl: true, certHosts: ["db.example.internal"] }, async (pg) => {
      await pg.addUser(USER, PASSWORD);
      await assertUpstreamError(
        connectUpstream(target(pg, { sslmode: "verify-full", caCert: pg.caCertPem }), login()),
        "tls",
        "08001",
        /hostname mismatch/,
      );
      // The same certificate is fine when nothing checks the name.
      const session = await connectUpstream(target(pg, { sslmode: "require" }), login());
      await close(session.socket);
    });
  },
);
