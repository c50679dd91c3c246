import { deepEqual, equal, match, ok } from "node:assert/strict";
import {
  INFORMATION_SCHEMA_READ_ONLY_FUNCTIONS,
  PG_CATALOG_FUNCTIONS,
  QUERY_TEXT_FUNCTIONS,
  READ_ONLY_FUNCTIONS,
  RELATION_TEXT_FUNCTIONS,
} from "./_pg_functions.ts";
import data from "./_pg_functions.json" with { type: "json" };

function readOnly(name: string, why: string) {
  ok(PG_CATALOG_FUNCTIONS.has(name), `${name} should be a pg_catalog function`);
  ok(READ_ONLY_FUNCTIONS.has(name), `${name} should be read-only: ${why}`);
}

function notReadOnly(name: string, why: string) {
  ok(PG_CATALOG_FUNCTIONS.has(name), `${name} should be a pg_catalog function`);
  ok(!READ_ONLY_FUNCTIONS.has(name), `${name} must not be read-only: ${why}`);
}

Deno.test("pg functions: everyday expressions are read-only", () => {
  for (const name of ["lower", "upper", "length", "substring", "format", "to_char", "abs"]) {
    readOnly(name, "immutable");
  }
  for (const name of ["count", "sum", "max", "array_agg", "string_agg", "jsonb_agg"]) {
    readOnly(name, "aggregate");
  }
  for (const name of ["row_number", "rank", "lag"]) readOnly(name, "window function");
  readOnly("now", "stable: the transaction's start time");
  readOnly("current_setting", "reads a setting; set_config is the writer");
  readOnly("pg_get_viewdef", "stable catalog read");
  readOnly("has_table_privilege", "stable catalog read");
  // Immutable despite the name: returns a changed copy of its bytea argument.
  readOnly("set_byte", "immutable value function");
});

Deno.test("pg functions: functions with effects are not read-only", () => {
  notReadOnly("set_config", "changes a setting (volatile)");
  notReadOnly("nextval", "advances a sequence (volatile)");
  for (const name of ["setval", "currval", "lastval"]) notReadOnly(name, "sequence (volatile)");
  notReadOnly("pg_sleep", "volatile: holds the connection");
  notReadOnly("random", "volatile (harmless, but the criteria are the catalog's)");
  notReadOnly("pg_advisory_lock", "takes a session lock (volatile)");
  notReadOnly("pg_try_advisory_lock", "takes a session lock (volatile)");
  notReadOnly("pg_notify", "sends a notification (volatile)");
  notReadOnly("pg_terminate_backend", "kills another session (volatile)");
  notReadOnly("pg_cancel_backend", "cancels another session's query (volatile)");
  notReadOnly("lo_get", "large objects (volatile)");
});

Deno.test("pg functions: each catalog criterion excludes something on its own", () => {
  // Stable but parallel unsafe: assigns a transaction id.
  notReadOnly("txid_current", "assigns an xid");
  notReadOnly("pg_current_xact_id", "assigns an xid");
  // EXECUTE revoked from PUBLIC by default: server files and large-object import.
  notReadOnly("pg_read_file", "reads server files");
  notReadOnly("lo_import", "reads a server file into a large object");
  notReadOnly("pg_ls_dir", "lists server directories");
  // Passes the catalog criteria; excluded by the generator's curated list.
  notReadOnly("fmgr_c_validator", "loads a shared library");
});

Deno.test("pg functions: SQL syntax and extension functions are not pg_catalog functions", () => {
  // COALESCE, GREATEST, LEAST and NULLIF parse as expressions, not function calls.
  for (const name of ["coalesce", "greatest", "least", "nullif"]) {
    ok(!PG_CATALOG_FUNCTIONS.has(name), name);
  }
  for (const name of ["dblink", "dblink_exec", "crypt"]) ok(!PG_CATALOG_FUNCTIONS.has(name), name);
});

Deno.test("pg functions: query-text functions and their query arguments", () => {
  deepEqual([...QUERY_TEXT_FUNCTIONS], [
    ["query_to_xml", [0]],
    ["query_to_xml_and_xmlschema", [0]],
    ["query_to_xmlschema", [0]],
    ["ts_rewrite", [1]], // ts_rewrite(query tsquery, select text)
    ["ts_stat", [0]], // ts_stat(query text [, weights text])
  ]);
  for (const name of QUERY_TEXT_FUNCTIONS.keys()) notReadOnly(name, "runs SQL it is given");
});

Deno.test("pg functions: relation-text functions and what they read", () => {
  deepEqual(RELATION_TEXT_FUNCTIONS.get("table_to_xml"), { arg: 0, reads: "relation" });
  deepEqual(RELATION_TEXT_FUNCTIONS.get("table_to_xmlschema"), { arg: 0, reads: "relation" });
  deepEqual(RELATION_TEXT_FUNCTIONS.get("schema_to_xml"), { arg: 0, reads: "schema" });
  deepEqual(RELATION_TEXT_FUNCTIONS.get("database_to_xml"), { arg: -1, reads: "database" });
  equal(RELATION_TEXT_FUNCTIONS.size, 9);
  for (const name of RELATION_TEXT_FUNCTIONS.keys()) {
    match(name, /^(table|schema|database)_to_xml/);
    notReadOnly(name, "reads tables the statement does not name");
  }
  // Cursors come from a DECLARE the gateway has already decided on.
  equal(RELATION_TEXT_FUNCTIONS.has("cursor_to_xml"), false);
  equal(QUERY_TEXT_FUNCTIONS.has("cursor_to_xml"), false);
});

Deno.test("pg functions: the sets are consistent with each other", () => {
  for (const name of READ_ONLY_FUNCTIONS) {
    ok(PG_CATALOG_FUNCTIONS.has(name), `${name} is read-only but not in pg_catalog`);
    ok(!QUERY_TEXT_FUNCTIONS.has(name), `${name} is both read-only and query text`);
    ok(!RELATION_TEXT_FUNCTIONS.has(name), `${name} is both read-only and relation text`);
    match(name, /^[a-z0-9_]+$/); // what an unquoted identifier folds to
  }
  for (const name of [...QUERY_TEXT_FUNCTIONS.keys(), ...RELATION_TEXT_FUNCTIONS.keys()]) {
    ok(PG_CATALOG_FUNCTIONS.has(name), name);
  }
  // Sizes a regeneration against a broken catalog query would miss by far.
  ok(PG_CATALOG_FUNCTIONS.size > 2500, `${PG_CATALOG_FUNCTIONS.size} catalog names`);
  ok(READ_ONLY_FUNCTIONS.size > 2000, `${READ_ONLY_FUNCTIONS.size} read-only names`);
  ok(READ_ONLY_FUNCTIONS.size < PG_CATALOG_FUNCTIONS.size - 150);
  ok(INFORMATION_SCHEMA_READ_ONLY_FUNCTIONS.has("_pg_expandarray"));
});

Deno.test("pg functions: the data says where it came from", () => {
  match(data.generated, /^by tools\/gen_pg_functions\.ts from PostgreSQL 15\.\d+.*; do not edit$/);
  // The module header cites the generator's EXCLUDED list: one reasoned entry so far.
  deepEqual(data.excluded, ["fmgr_c_validator"]);
});
