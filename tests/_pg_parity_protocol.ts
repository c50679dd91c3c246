/**
 * The steps of tests/postgres_parity_test.ts about what the protocol carries: statements
 * prepared out of the gateway's sight, drivers binding a setting's name, and receipts of a
 * message denied as a whole. Each runs against the fixture that test sets up, as the parity
 * agent.
 *
 * @module
 */

import assert from "node:assert/strict";
// Test-only drivers are named here, not in deno.json, so installs never fetch them.
// deno-lint-ignore no-import-prefix
import pg from "npm:pg@8.23.1";
// deno-lint-ignore no-import-prefix
import postgres from "npm:postgres@3.4.9";
import { RawPg, serialize } from "./_pg_raw.ts";
import { type Parity, usersIntact } from "./_pg_parity_settings.ts";

/** Step: a Bind or EXECUTE naming a statement the gateway did not see prepared is refused. */
export async function unseenStatementsRefused({ fx, parityToken }: Parity): Promise<void> {
  const raw = await RawPg.login(fx.port("pgset"), "agent_ro", parityToken);
  try {
    await raw.send(
      serialize.bind({ statement: "never_seen", values: [] }),
      serialize.execute({}),
      serialize.sync(),
    );
    const seen = await raw.untilReady();
    const error = seen.find((s) => s.type === "E");
    assert.equal(error?.code, "42501");
    assert.match(
      error?.message ?? "",
      /"never_seen" was not prepared through clawpatrol/,
    );
    await raw.send(serialize.query("execute also_unseen"));
    const sql = await raw.untilReady();
    assert.match(
      sql.find((s) => s.type === "E")?.message ?? "",
      /"also_unseen" was not prepared/,
    );
    // The same through Parse: the EXECUTE inside is refused before anything runs.
    await raw.send(
      serialize.parse({ text: "execute also_unseen" }),
      serialize.bind({ values: [] }),
      serialize.execute({}),
      serialize.sync(),
    );
    const parsed = await raw.untilReady();
    assert.match(
      parsed.find((s) => s.type === "E")?.message ?? "",
      /"also_unseen" was not/,
    );
    // A statement prepared through the gateway runs, by SQL and by the protocol.
    await raw.send(serialize.query("prepare p as select count(*) from users"));
    assert.ok(!(await raw.untilReady()).some((s) => s.type === "E"));
    await raw.send(serialize.query("execute p"));
    assert.ok((await raw.untilReady()).some((s) => s.type === "D"));
    await raw.send(
      serialize.bind({ statement: "p", values: [] }),
      serialize.execute({}),
      serialize.sync(),
    );
    assert.ok((await raw.untilReady()).some((s) => s.type === "D"));
    // Deallocated, it is unknown again.
    await raw.send(serialize.query("deallocate p"));
    await raw.untilReady();
    await raw.send(
      serialize.bind({ statement: "p", values: [] }),
      serialize.execute({}),
      serialize.sync(),
    );
    assert.equal((await raw.untilReady()).find((s) => s.type === "E")?.code, "42501");
  } finally {
    raw.close();
  }
  await usersIntact(fx);
}

/** Step: a Parse the server rejects leaves no statement a later Bind could name. */
export async function rejectedParseLeavesNoStatement({ fx, parityToken }: Parity): Promise<void> {
  const raw = await RawPg.login(fx.port("pgset"), "agent_ro", parityToken);
  try {
    await raw.send(
      serialize.parse({ name: "bad", text: "select * from no_such_table" }),
      serialize.sync(),
    );
    assert.equal((await raw.untilReady()).find((s) => s.type === "E")?.code, "42P01");
    await raw.send(
      serialize.bind({ statement: "bad", values: [] }),
      serialize.execute({}),
      serialize.sync(),
    );
    const error = (await raw.untilReady()).find((s) => s.type === "E");
    assert.equal(
      error?.code,
      "42501",
      "refused by the gateway, not answered by the server",
    );
  } finally {
    raw.close();
  }
}

/**
 * Step: node-postgres and postgres.js: set_config with a bound name is refused, settings
 * unchanged.
 */
export async function driversSetConfigRefused({ fx, parityToken }: Parity): Promise<void> {
  const c = new pg.Client({
    host: "127.0.0.1",
    port: fx.port("pgset"),
    user: "agent_ro",
    password: parityToken,
    database: "app",
  });
  await c.connect();
  try {
    await assert.rejects(
      c.query({ text: "select set_config($1, 'evil', false)", values: ["search_path"] }),
      /denied by clawpatrol: set_config\(\) with a setting name computed at run time/,
    );
    const r = await c.query("select current_setting('search_path') as p");
    assert.equal(r.rows[0].p, '"$user", public');
  } finally {
    await c.end();
  }
  const sql = postgres({
    host: "127.0.0.1",
    port: fx.port("pgset"),
    user: "agent_ro",
    password: parityToken,
    database: "app",
    max: 1,
    onnotice: () => {},
  });
  try {
    await assert.rejects(
      sql`select set_config('role', ${"cp_super"}, false)`,
      /changing role/,
    );
    const [row] = await sql`select current_user as u`;
    assert.equal(row.u, "agent_ro");
  } finally {
    await sql.end();
  }
}

/** Step: a message denied as a whole leaves no allow receipt for its other statements. */
export async function deniedMessageLeavesNoAllow({ fx, psql }: Parity): Promise<void> {
  const before = (await fx.receipts()).length;
  // psql sends statements joined by \; as one Query message.
  const out = await psql("select 42 as marker_select \\; drop table users;\n", "pgset");
  assert.match(out.stderr, /denied by clawpatrol/);
  const added = (await fx.receipts()).slice(before);
  const mine = added.filter((r) =>
    r.summary.includes("marker_select") || r.summary.includes("drop table")
  );
  assert.ok(mine.length >= 2, JSON.stringify(added.map((r) => r.summary)));
  assert.deepEqual(
    mine.filter((r) => r.verdict === "allow"),
    [],
    "nothing that did not run says allow",
  );
  await usersIntact(fx);
}

/** Step: psql -c: each message is one Query; the lexing attack is refused the same way. */
export async function psqlCommandLexingRefused({ fx, parityToken }: Parity): Promise<void> {
  const pgsetDsn = `host=127.0.0.1 port=${fx.port("pgset")} user=agent_ro dbname=app ` +
    "sslmode=disable";
  const run = (...commands: string[]) =>
    new Deno.Command("psql", {
      args: ["-X", "-At", ...commands.flatMap((c) => ["-c", c]), pgsetDsn],
      env: { PGPASSWORD: parityToken, PGCONNECT_TIMEOUT: "10" },
      stdout: "piped",
      stderr: "piped",
    }).output();
  const out = await run(
    "select set_config('standard_conforming_strings','off',false)",
    "select 'a\\' , $$' ; drop table users; -- $$",
  );
  assert.match(
    new TextDecoder().decode(out.stderr),
    /changing standard_conforming_strings/,
  );
  await usersIntact(fx);
}
