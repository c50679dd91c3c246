import { equal, ok, rejects } from "node:assert/strict";
import { dirname } from "node:path";
import { pgbench, postgresAvailable, startPostgres } from "./_postgres.ts";

const ignore = !postgresAvailable();
if (ignore) console.warn("PostgreSQL 15 binaries not found: skipping tests/_postgres_test.ts");

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

Deno.test(
  { name: "startPostgres() runs SQL on a plain cluster and stop() removes it", ignore },
  async () => {
    const pg = await startPostgres({ settings: { max_connections: "37" } });
    try {
      equal(pg.host, "127.0.0.1");
      equal(await pg.sql("SHOW max_connections"), "37\n");
      equal(await pg.sql("SHOW ssl"), "off\n");
      equal(await pg.sql("SELECT current_setting('server_version_num')::int / 10000"), "15\n");
      equal(pg.caCertPem, undefined);
      await rejects(() => pg.sql("SELECT * FROM missing_table"), /missing_table/);
    } finally {
      await pg.stop();
    }
    ok(!(await exists(dirname(pg.dataDir))), "stop() leaves the temp directory behind");
    await pg.stop(); // idempotent
  },
);

Deno.test({ name: "addUser() stores the password as scram-sha-256 or md5", ignore }, async () => {
  const pg = await startPostgres();
  try {
    await pg.addUser("agent_scram", "pw'one");
    await pg.addUser("Agent Md5", 'pw"two', "md5");
    const rows = await pg.sql(
      "SELECT rolname, rolpassword ~ '^md5[0-9a-f]{32}$', rolpassword LIKE 'SCRAM-SHA-256$%', " +
        "rolsuper, rolcanlogin FROM pg_authid WHERE rolname IN ('agent_scram', 'Agent Md5') " +
        "ORDER BY rolname",
    );
    equal(rows, "Agent Md5|t|f|f|t\nagent_scram|f|t|f|t\n");
  } finally {
    await pg.stop();
  }
});

Deno.test({
  name: "startPostgres({ ssl: true }) serves TLS with a certificate from caCertPem",
  ignore,
}, async () => {
  const pg = await startPostgres({ ssl: true });
  try {
    equal(await pg.sql("SHOW ssl"), "on\n");
    const ca = await Deno.makeTempFile({ suffix: ".pem" });
    try {
      await Deno.writeTextFile(ca, pg.caCertPem!);
      // psql itself verifies the chain and the name: proof the cert is what clients will see.
      for (const host of ["127.0.0.1", "localhost"]) {
        const out = await new Deno.Command("/usr/bin/psql", {
          args: ["-X", "-At", "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
          env: {
            PGHOST: host,
            PGPORT: String(pg.port),
            PGUSER: pg.superuser,
            PGDATABASE: "postgres",
            PGPASSWORD: pg.superpassword,
            PGSSLMODE: "verify-full",
            PGSSLROOTCERT: ca,
          }, // deno-fmt-ignore
          clearEnv: true,
        }).output();
        equal(new TextDecoder().decode(out.stderr), "");
        equal(new TextDecoder().decode(out.stdout), "t\n");
      }
    } finally {
      await Deno.remove(ca);
    }
  } finally {
    await pg.stop();
  }
});

Deno.test(
  { name: "pgbench() runs against the cluster with the superuser password", ignore },
  async () => {
    const pg = await startPostgres({ hba: "md5" });
    try {
      const init = await pgbench(pg, ["-i", "-s", "1", "-q", "postgres"]);
      equal(init.code, 0, init.stderr);
      const run = await pgbench(pg, ["-c", "2", "-t", "20", "-S", "postgres"]);
      equal(run.code, 0, run.stderr);
      ok(run.stdout.includes("number of transactions actually processed: 40/40"), run.stdout);
    } finally {
      await pg.stop();
    }
  },
);

Deno.test({ name: "startPostgres() fails with the server log and cleans up", ignore }, async () => {
  const err = await startPostgres({ settings: { shared_buffers: "'lots'" } }).then(
    () => Promise.reject(new Error("started with an invalid setting")),
    (err: Error) => err,
  );
  ok(/did not start[\s\S]*shared_buffers/.test(err.message), err.message);
  const dir = err.message.match(/PostgreSQL in '([^']+)'/)?.[1];
  ok(dir, err.message);
  ok(!(await exists(dir)), `left behind: ${dir}`);
});
