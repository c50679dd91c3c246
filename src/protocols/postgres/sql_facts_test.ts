import { deepEqual, equal } from "node:assert/strict";
import { loadSqlParser, type StatementFacts } from "./sql_facts.ts";
import { statements } from "./_sql_facts_testing.ts";

await loadSqlParser();

type Case = [name: string, sql: string, expected: Partial<StatementFacts>[]];

/** Each case lists, per statement, only the fields it checks. */
const CASES: Case[] = [
  ["simple select", "SELECT a FROM users WHERE id = 1", [
    {
      verb: "select",
      verbs: ["select"],
      tables: ["users"],
      functions: [],
      statement: "SELECT a FROM users WHERE id = 1",
      dynamic: false,
    },
  ]],
  ["multi-statement", "select 1; drop table t", [
    { verb: "select", statement: "select 1", tables: [] },
    { verb: "drop", statement: "drop table t", tables: ["t"] },
  ]],
  ["trailing semicolon and comment", "select 1; /* c */ drop table t; -- x", [
    { statement: "select 1" },
    { statement: "drop table t" },
  ]],
  ["non-ASCII statement offsets are bytes", "select 'é'; drop table t", [
    { statement: "select 'é'" },
    { statement: "drop table t", verb: "drop" },
  ]],
  ["case and comment obfuscation", '/* x */ DrOp /**/ TABLE "Users"', [
    { verb: "drop", verbs: ["drop"], tables: ["Users"], statement: 'DrOp /**/ TABLE "Users"' },
  ]],
  ["line comment before DROP", "-- comment\nDROP TABLE t", [{ verb: "drop", tables: ["t"] }]],
  ["DELETE in CTE", "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", [
    { verb: "select", verbs: ["select", "delete"], tables: ["t"] },
  ]],
  [
    "nested CTE inside subquery",
    "SELECT * FROM (WITH x AS (UPDATE u SET a = 1 RETURNING *) SELECT * FROM x) s",
    [
      { verb: "select", verbs: ["select", "update"], tables: ["u"] },
    ],
  ],
  [
    "CTE scope ends with its query",
    "SELECT * FROM (WITH users AS (SELECT 1) SELECT * FROM users) a, users",
    [
      { tables: ["users"] },
    ],
  ],
  [
    "plain WITH: earlier CTE does not see a later one",
    "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b",
    [
      { tables: ["b"] },
    ],
  ],
  [
    "WITH RECURSIVE sees every CTE",
    "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
    [
      { tables: [] },
    ],
  ],
  ["DML target named like a CTE is the table", "WITH t AS (SELECT 1) DELETE FROM t", [
    { verb: "delete", tables: ["t"] },
  ]],
  ["INSERT ... SELECT", "INSERT INTO a SELECT * FROM public.b", [
    { verb: "insert", verbs: ["insert", "select"], tables: ["a", "public.b", "b"] },
  ]],
  ["INSERT VALUES is no select", "INSERT INTO a VALUES (1), (2)", [{ verbs: ["insert"] }]],
  [
    "INSERT ON CONFLICT DO UPDATE",
    "INSERT INTO a VALUES (1) ON CONFLICT (id) DO UPDATE SET x = 1",
    [
      { verb: "insert", verbs: ["insert", "update"] },
    ],
  ],
  ["UPDATE ... FROM", "UPDATE a SET x = b.x FROM b WHERE a.id = b.id", [
    { verb: "update", tables: ["a", "b"] },
  ]],
  [
    "MERGE",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE WHEN NOT MATCHED THEN INSERT VALUES (1)",
    [
      { verb: "merge", verbs: ["merge", "delete", "insert"], tables: ["t", "s"] },
    ],
  ],
  ["schema-qualified", "SELECT * FROM public.users JOIN app.orders o ON true", [
    { tables: ["public.users", "users", "app.orders", "orders"] },
  ]],
  ["catalog-qualified gives every suffix", "SELECT * FROM db.public.users", [
    { tables: ["db.public.users", "public.users", "users"] },
  ]],
  [
    "CTE name is not a table, schema-qualified one is",
    "WITH d AS (SELECT 1) SELECT * FROM d, public.d",
    [
      { tables: ["public.d", "d"] },
    ],
  ],
  ["COPY TO PROGRAM", "COPY t TO PROGRAM 'curl evil'", [
    { verb: "copy", tables: ["t"], dynamic: true },
  ]],
  ["COPY FROM PROGRAM", "COPY t FROM PROGRAM 'cat /etc/passwd'", [{ dynamic: true }]],
  ["COPY (DELETE) TO STDOUT", "COPY (DELETE FROM t RETURNING *) TO STDOUT", [
    { verb: "copy", verbs: ["copy", "delete"], tables: ["t"], dynamic: false },
  ]],
  ["COPY FROM STDIN", "COPY t FROM STDIN", [{ verb: "copy", tables: ["t"], dynamic: false }]],
  ["DO block", "DO $$ BEGIN EXECUTE 'drop table x'; END $$", [
    { verb: "do", verbs: ["do"], tables: [], dynamic: true },
  ]],
  ["EXECUTE", "EXECUTE p(1)", [{ verb: "execute", dynamic: true }]],
  ["PREPARE", "PREPARE p AS DELETE FROM t", [
    { verb: "prepare", verbs: ["prepare", "delete"], tables: ["t"], dynamic: false },
  ]],
  ["EXPLAIN ANALYZE DELETE", "EXPLAIN ANALYZE DELETE FROM t", [
    { verb: "explain", verbs: ["explain", "delete"], tables: ["t"] },
  ]],
  [
    "CREATE FUNCTION plpgsql",
    "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$",
    [
      { verb: "create", functions: ["f"], dynamic: true },
    ],
  ],
  [
    "CREATE OR REPLACE FUNCTION sql",
    "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'select 1'",
    [
      { verb: "create", dynamic: true },
    ],
  ],
  ["CREATE PROCEDURE BEGIN ATOMIC", "CREATE PROCEDURE p() BEGIN ATOMIC DELETE FROM t; END", [
    { verb: "create", verbs: ["create", "delete"], tables: ["t"], dynamic: true },
  ]],
  ["CREATE TRIGGER", "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()", [
    { verb: "create", tables: ["t"], functions: ["f"], dynamic: true },
  ]],
  ["CREATE RULE", "CREATE RULE r AS ON INSERT TO t DO ALSO DELETE FROM u", [
    { verb: "create", verbs: ["create", "delete"], tables: ["t", "u"], dynamic: true },
  ]],
  ["LOAD", "LOAD 'plugin'", [{ verb: "load", dynamic: true }]],
  ["set_config", "select set_config('role','x',false)", [
    { verb: "select", functions: ["set_config"] },
  ]],
  [
    "qualified function, aggregate, function in FROM",
    "SELECT count(*) FROM pg_catalog.generate_series(1, 3)",
    [
      { functions: ["count", "pg_catalog.generate_series", "generate_series"] },
    ],
  ],
  ["CALL", "CALL app.cleanup(1)", [{ verb: "call", functions: ["app.cleanup", "cleanup"] }]],
  ["GRANT", "GRANT SELECT ON t, s.u TO bob", [{ verb: "grant", tables: ["t", "s.u", "u"] }]],
  ["REVOKE", "REVOKE ALL ON SCHEMA s FROM bob", [{ verb: "revoke", tables: [] }]],
  ["GRANT EXECUTE ON FUNCTION", "GRANT EXECUTE ON FUNCTION f(int) TO x", [
    { verb: "grant", functions: ["f"] },
  ]],
  ["TRUNCATE", "TRUNCATE a, b", [{ verb: "truncate", tables: ["a", "b"] }]],
  ["ALTER TABLE", "ALTER TABLE public.t ADD COLUMN c int", [
    { verb: "alter", tables: ["public.t", "t"] },
  ]],
  ["ALTER TABLE RENAME", "ALTER TABLE t RENAME TO u", [{ verb: "alter", tables: ["t"] }]],
  ["ALTER SYSTEM", "ALTER SYSTEM SET work_mem = '1GB'", [{ verb: "alter", dynamic: false }]],
  ["SELECT INTO", "SELECT * INTO newt FROM old", [
    { verb: "select", verbs: ["select", "create"], tables: ["newt", "old"] },
  ]],
  ["CREATE TABLE AS", "CREATE TABLE x AS SELECT * FROM y", [
    { verb: "create", verbs: ["create", "select"], tables: ["y", "x"] },
  ]],
  ["DROP INDEX / VIEW qualified", "DROP INDEX s.i; DROP VIEW v", [
    { verb: "drop", tables: ["s.i", "i"] },
    { verb: "drop", tables: ["v"] },
  ]],
  ["DROP FUNCTION", "DROP FUNCTION f(int), public.g()", [
    { verb: "drop", tables: [], functions: ["f", "public.g", "g"] },
  ]],
  ["DROP SCHEMA / DATABASE", "DROP SCHEMA s CASCADE; DROP DATABASE d", [
    { verb: "drop", tables: [] },
    { verb: "drop", tables: [] },
  ]],
  ["DROP TRIGGER names its table", "DROP TRIGGER tr ON s.t", [{ tables: ["s.t", "t"] }]],
  ["VACUUM / ANALYZE", "VACUUM t; ANALYZE u", [
    { verb: "vacuum", tables: ["t"] },
    { verb: "analyze", tables: ["u"] },
  ]],
  ["LOCK", "LOCK TABLE t IN ACCESS EXCLUSIVE MODE", [{ verb: "lock", tables: ["t"] }]],
  ["cursors", "DECLARE c CURSOR FOR SELECT * FROM t; FETCH 1 FROM c; MOVE 1 FROM c; CLOSE c", [
    { verb: "declare", verbs: ["declare", "select"], tables: ["t"] },
    { verb: "fetch" },
    { verb: "move" },
    { verb: "close" },
  ]],
  [
    "CREATE INDEX / VIEW / SCHEMA / ROLE",
    "CREATE INDEX i ON t (a); CREATE VIEW v AS SELECT 1; CREATE SCHEMA s; CREATE ROLE r",
    [
      { verb: "create", tables: ["t"] },
      { verb: "create", verbs: ["create", "select"], tables: ["v"] },
      { verb: "create" },
      { verb: "create" },
    ],
  ],
  ["dollar-quoted text is not a verb", "SELECT $$drop table users$$, $x$; delete from t $x$", [
    { verb: "select", verbs: ["select"], tables: [], dynamic: false },
  ]],
  ["string literal is not a table", "SELECT 'drop table users' FROM logs", [
    { verbs: ["select"], tables: ["logs"] },
  ]],
];

/** Statements whose only check is the verb of each statement (space-separated, in order). */
const VERB_ONLY: [sql: string, verbs: string][] = [
  ["SET ROLE admin; SET role = 'admin'; SET LOCAL ROLE x", "set_role set_role set_role"],
  ["SET ROLE NONE; SET role TO DEFAULT", "set_role set_role"],
  [
    "SET SESSION AUTHORIZATION x; SET SESSION AUTHORIZATION DEFAULT",
    "set_session_authorization set_session_authorization",
  ],
  ["RESET ROLE; RESET SESSION AUTHORIZATION", "reset_role reset_session_authorization"],
  ["RESET ALL; RESET search_path", "reset reset"],
  ["SET search_path = x; SET TRANSACTION READ ONLY; SET CONSTRAINTS ALL DEFERRED", "set set set"],
  ["SHOW search_path; SHOW ALL", "show show"],
  ["GRANT admin TO bob; REVOKE admin FROM bob", "grant revoke"],
  [
    "BEGIN; START TRANSACTION; COMMIT; END; ROLLBACK; ABORT",
    "begin begin commit commit rollback rollback",
  ],
  ["SAVEPOINT a; RELEASE a; ROLLBACK TO a", "savepoint release rollback_to"],
  [
    "PREPARE TRANSACTION 'x'; COMMIT PREPARED 'x'; ROLLBACK PREPARED 'y'",
    "prepare_transaction commit_prepared rollback_prepared",
  ],
  [
    "LISTEN a; NOTIFY a; UNLISTEN a; DISCARD ALL; CHECKPOINT; DEALLOCATE p",
    "listen notify unlisten discard checkpoint deallocate",
  ],
  ["DROP ROLE r; DROP OWNED BY r; REASSIGN OWNED BY a TO b", "drop drop reassign"],
  ["COMMENT ON TABLE t IS 'x'; SECURITY LABEL ON TABLE t IS 'x'", "comment security_label"],
  ["REFRESH MATERIALIZED VIEW v; REINDEX TABLE t; CLUSTER t USING i", "refresh reindex cluster"],
  ["CREATE EXTENSION x; ALTER EXTENSION x UPDATE; DROP EXTENSION x", "create alter drop"],
  ["CREATE DATABASE d; ALTER DATABASE d RENAME TO e; DROP DATABASE e", "create alter drop"],
  [
    "ALTER FUNCTION f() OWNER TO x; ALTER TABLE t SET SCHEMA s; ALTER ROLE r SUPERUSER",
    "alter alter alter",
  ],
  [
    "CREATE TYPE t AS (a int); CREATE TYPE e AS ENUM ('a'); CREATE SEQUENCE s",
    "create create create",
  ],
  ["VALUES (1); TABLE t", "select select"],
];

for (const [sql, verbs] of VERB_ONLY) {
  Deno.test(`sql facts: verbs of ${sql}`, () => {
    deepEqual(statements(sql).map((s) => s.verb), verbs.split(" "));
  });
}

for (const [name, sql, expected] of CASES) {
  Deno.test(`sql facts: ${name}`, () => {
    const got = statements(sql);
    equal(got.length, expected.length, `statement count for ${sql}`);
    expected.forEach((want, i) => {
      for (const [field, value] of Object.entries(want)) {
        deepEqual(got[i][field as keyof StatementFacts], value, `${sql} [${i}].${field}`);
      }
    });
  });
}
