/**
 * The steps of tests/postgres_parity_test.ts that change how the server reads SQL: lexing
 * settings, search_path, roles and their defaults, and side effects hidden in a SELECT. Each
 * runs against the fixture that test sets up, as the parity agent.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { PgFixture } from "./_pg_fixture.ts";

/** What every parity step works with. */
export interface Parity {
  fx: PgFixture;
  /** The parity agent's token (its password at the gateway). */
  parityToken: string;
  /** psql through the gateway's `endpoint` as agent_ro, authenticated as the parity agent. */
  psql(script: string, endpoint: string): ReturnType<PgFixture["psql"]>;
}

/** Asserts the users table still holds its three rows. */
export async function usersIntact(fx: PgFixture): Promise<void> {
  const out = await fx.pg.sql("select id, name from users order by id", "app");
  assert.match(out, /ada[\s\S]*grace[\s\S]*linus/, "the users table and its rows are intact");
}

/**
 * Step: psql: turning standard_conforming_strings off is refused, so the hidden DROP never runs.
 */
export async function lexingSettingRefused({ fx, psql }: Parity): Promise<void> {
  const script = "select set_config('standard_conforming_strings','off',false);\n" +
    "select 'a\\' , $$' ; drop table users; -- $$;\n" +
    "show standard_conforming_strings;\n";
  const out = await psql(script, "pgset");
  assert.match(out.stderr, /denied by clawpatrol: changing standard_conforming_strings/);
  assert.match(out.stdout, /^on$/m, "the session's setting is unchanged");
  await usersIntact(fx);
  const refused = (await fx.receipts()).filter((r) =>
    r.verdict === "deny" && r.reason.includes("standard_conforming_strings")
  );
  assert.ok(refused.length >= 1, "the refusal has a receipt");
}

/**
 * Step: SET of search_path, role and session authorization is refused even when rules allow SET.
 */
export async function pathAndRoleSetRefused({ psql }: Parity): Promise<void> {
  const out = await psql(
    "set search_path = evil, pg_catalog;\nset role postgres;\n" +
      "set session authorization cp_super;\nselect current_user, current_setting('search_path');\n",
    "pgset",
  );
  assert.equal((out.stderr.match(/denied by clawpatrol: changing/g) ?? []).length, 3);
  assert.match(out.stdout, /^agent_ro\|"\$user", public$/m);
}

/**
 * Step: a server, database or role default the parser cannot mirror refuses the login with FATAL.
 */
export async function unmirroredDefaultsRefuseLogin({ fx, psql }: Parity): Promise<void> {
  for (
    const [set, reset] of [
      [
        "ALTER ROLE agent_ro SET standard_conforming_strings = off",
        "ALTER ROLE agent_ro RESET ALL",
      ],
      [
        "ALTER DATABASE app SET standard_conforming_strings = off",
        "ALTER DATABASE app RESET ALL",
      ],
      [
        "ALTER SYSTEM SET standard_conforming_strings = off; SELECT pg_reload_conf()",
        "ALTER SYSTEM RESET ALL; SELECT pg_reload_conf()",
      ],
    ]
  ) {
    await fx.pg.sql(set, "app");
    try {
      const out = await psql("select 1;\n", "pgset");
      assert.notEqual(out.code, 0, set);
      assert.match(
        out.stderr,
        /FATAL: +the database reports standard_conforming_strings = off/,
        set,
      );
    } finally {
      await fx.pg.sql(reset, "app");
    }
  }
  const again = await psql("select 1;\n", "pgset");
  assert.equal(again.stdout.trim(), "1", "logins work again once the default is back");
}

/** Step: a role's default search_path that shadows a built-in makes its calls no plain read. */
export async function shadowingSearchPathIsNoRead({ fx, psql }: Parity): Promise<void> {
  await fx.pg.sql(
    `CREATE SCHEMA evil;
   CREATE FUNCTION evil.lower(integer) RETURNS text LANGUAGE sql
     AS $$ DELETE FROM public.users WHERE id = 3; SELECT 'gotcha' $$;
   GRANT USAGE ON SCHEMA evil TO agent_ro;
   ALTER ROLE agent_ro SET search_path = evil, public;`,
    "app",
  );
  try {
    const out = await psql("select lower(5);\nselect lower('ADA');\n", "pgstrict");
    assert.match(out.stderr, /denied by clawpatrol/);
    assert.doesNotMatch(out.stdout, /gotcha|ada/, "no call by the shadowed name ran");
    await usersIntact(fx);
    const qualified = await psql("select pg_catalog.lower('ADA');\n", "pgstrict");
    assert.equal(qualified.stdout.trim(), "ada", qualified.stderr);
    // An operator the path shadows: its function deletes rows.
    await fx.pg.sql(
      `CREATE FUNCTION evil.sneaky_eq(integer, numeric) RETURNS boolean LANGUAGE sql
         AS $$ DELETE FROM public.users WHERE id = 3; SELECT true $$;
       CREATE OPERATOR evil.= (LEFTARG = integer, RIGHTARG = numeric,
         FUNCTION = evil.sneaky_eq);`,
      "app",
    );
    const op = await psql("select count(*) from users where id = 2.0;\n", "pgstrict");
    assert.match(op.stderr, /denied by clawpatrol/);
    await usersIntact(fx);
  } finally {
    await fx.pg.sql("ALTER ROLE agent_ro RESET ALL; DROP SCHEMA evil CASCADE;", "app");
  }
}

/** Step: an extension's immutable overloads on the path do not make built-in calls suspect. */
export async function extensionOverloadsNotSuspect({ fx, psql }: Parity): Promise<void> {
  await fx.pg.sql("CREATE EXTENSION citext;", "app");
  try {
    const out = await psql("select lower('ADA'), 1 = 1;\n", "pgstrict");
    assert.equal(out.stdout.trim(), "ada|t", out.stderr);
  } finally {
    await fx.pg.sql("DROP EXTENSION citext;", "app");
  }
}

/** Step: a role default that switches role refuses the login. */
export async function roleSwitchingDefaultRefusesLogin({ fx, psql }: Parity): Promise<void> {
  await fx.pg.sql(
    "CREATE ROLE powerful; GRANT powerful TO agent_ro; ALTER ROLE agent_ro SET role = powerful;",
    "app",
  );
  try {
    const out = await psql("select current_user;\n", "pgset");
    assert.match(out.stderr, /FATAL: +the database runs this session as role 'powerful'/);
    assert.doesNotMatch(out.stdout, /powerful/);
  } finally {
    await fx.pg.sql("ALTER ROLE agent_ro RESET ALL; DROP ROLE powerful;", "app");
  }
}

/** Step: strict read-only: side effects in a SELECT are denied and change nothing. */
export async function strictReadOnlySideEffectsDenied({ fx, psql }: Parity): Promise<void> {
  const attempts = [
    "select query_to_xml('delete from users returning 1', true, false, '');",
    "select query_to_xml('select set_config(''search_path'', ''evil'', false)', true, false, '');",
    "select set_config('work_mem', '1MB', false);",
    "select pg_terminate_backend(pg_backend_pid());",
    "select lo_import('/etc/hostname');",
    "select nextval('no_such_seq');",
    "select * from users for update;",
  ];
  const out = await psql(
    attempts.join("\n") + "\nselect count(*) from users;\n",
    "pgstrict",
  );
  assert.equal(
    (out.stderr.match(/denied by clawpatrol/g) ?? []).length,
    attempts.length,
    out.stderr,
  );
  assert.equal(out.stdout.trim(), "3");
  await usersIntact(fx);
}
