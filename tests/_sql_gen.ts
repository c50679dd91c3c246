/**
 * Seeded generators of SQL texts for the differential oracle (`_sql_oracle.ts`): lexically tricky
 * pieces (every quoting form, nested comments, semicolons in strings, comments and dollar bodies,
 * backslashes, non-ASCII), statements of every verb over a small fixed schema (also here, with
 * the queries that check it), catalog function calls, and sessions that first try to change how
 * the server reads SQL (standard_conforming_strings, client encoding, search_path, role) and then
 * send texts read differently under the changed setting. Deterministic: the same seed and
 * function list give the same texts anywhere, so a CI failure reproduces from its seed.
 *
 * @module
 */

import { SeededRng } from "./_rng.ts";

/** The tests' seeded generator, with the generators' one piece of state: plain mode. */
export class Rng extends SeededRng {
  /** While true, texts use plain ASCII constants and spaces: shapes the gateway caches. */
  plain = false;
}

/** A catalog function: its name and argument types as `regtype` prints them. */
export type FnSig = { name: string; args: string[] };

/** The role texts run as, and a role it may SET ROLE to (the oracle creates both). */
export const [FUZZ_ROLE, OTHER_ROLE] = ["sqlfuzz", "sqlfuzz_other"];

/** The throwaway schema every text runs against (run as {@linkcode FUZZ_ROLE}, scs on). */
export const FIXTURE_SQL = `
create table users (id int primary key, name text, note text);
create table orders (id int primary key, user_id int, amount numeric, memo text);
create table "Weird;Name" (id int, "a""b" text);
create table "Ünïcode" (id int, v text);
create sequence seq1;
create view v_users as select id, v as name from "Ünïcode";
insert into users values (1, 'alice', 'a\\b'), (2, 'bob', 'it''s'), (3, 'carol', null);
insert into orders values (1, 1, 9.5, 'x;y'), (2, 2, 20, '--');
insert into "Weird;Name" values (1, '$$');
insert into "Ünïcode" values (1, 'ü');
`;

// What the oracle checks the fixture with. Every query is schema-qualified: a forwarded text may
// have changed search_path.
const PINNED = ["standard_conforming_strings", "backslash_quote", "search_path", "role"]
  .concat("session_authorization", "client_encoding")
  .map((s) => `pg_catalog.current_setting('${s}')`).join(", ") + ", current_user, session_user";
/** The session's pinned settings and identity, as one value. */
export const PINNED_SQL = `select pg_catalog.concat_ws(' | ', ${PINNED})`;
const ROWS = ["users", "orders", '"Weird;Name"', '"Ünïcode"']
  .map((t, i) => `select '${i}' || t::text x from public.${t} t`).join(" union all ");
/** Strict mode: the pinned settings, and data and effects a plain read must leave alone. */
export const STATE_SQL = `select pg_catalog.concat_ws(' | ', ${PINNED},
  (select pg_catalog.md5(pg_catalog.string_agg(x, ',' order by x)) from (${ROWS}) s),
  (select last_value || ':' || is_called from public.seq1), (select count(*) from pg_catalog.pg_class),
  (select count(*) from pg_catalog.pg_listening_channels()), (select count(*) from pg_catalog.pg_largeobject_metadata),
  (select count(*) from pg_catalog.pg_locks where pid = pg_catalog.pg_backend_pid() and locktype = 'advisory'))`;
const SYS = "'^(pg_|information_schema)'";
/** The database as the fixture left it (run as superuser): relations, functions, role settings, rows. */
export const SIGNATURE_SQL = `select md5(string_agg(x, ' ' order by x)) from (
  select n.nspname || '.' || c.relname || c.relkind::text || c.relowner || coalesce(c.relacl::text, '') ||
    c.relhasrules || c.relhastriggers || c.relrowsecurity || c.relnatts x
    from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname !~ ${SYS}
  union all select 'n ' || nspname || nspowner from pg_namespace where nspname !~ ${SYS}
  union all select 'p ' || oid::regprocedure from pg_proc where pronamespace::regnamespace::text !~ ${SYS}
  union all select 's ' || setdatabase || ' ' || setrole || setconfig::text from pg_db_role_setting
  union all ${ROWS}) s`;
/** Puts the fixture back (as superuser): whatever the roles made goes, with their settings. */
export const REBUILD_SQL = (db: string) =>
  `drop owned by ${FUZZ_ROLE}, ${OTHER_ROLE} cascade; alter role ${FUZZ_ROLE} reset all;
  alter role ${OTHER_ROLE} reset all; alter database "${db}" reset all;
  alter role ${FUZZ_ROLE} in database "${db}" reset all; set role ${FUZZ_ROLE}; ${FIXTURE_SQL}; reset role`;
/** Callable catalog functions as `name:argtype,argtype`. */
export const FUNCTIONS_SQL =
  `select proname || ':' || coalesce((select string_agg(t::regtype::text, ',' order by i)
  from unnest(proargtypes::oid[]) with ordinality u(t, i)), '') from pg_proc where pronamespace = 'pg_catalog'::regnamespace
  and prokind in ('f', 'a') and not 'internal'::regtype = any(proargtypes::oid[]) order by 1`;

// Names a text may use: mostly real ones, so statements run instead of failing on lookup.
const TABLES = ["users", "orders", "public.users", '"users"', '"Weird;Name"', '"Ünïcode"'];
const ODD_TABLES = ["v_users", 'U&"\\0075sers"', "missing_t", '"we""ird;--"', "pg_settings"];
const COLUMNS = ["id", "name", "note", '"id"', "user_id", "amount", "memo"];
/** Pieces string bodies are made of: each one is a way lexers have been fooled. */
const FRAGS = ["a", ";", "--", "/*", "*/", "$$", "$x$", "\\", '"', "é", "日本", "😀", " ", "\n"]
  .concat("'");
const NUMBERS = ["0", "1", "7", "42", "3.5", "1e3", "-1", "2147483648", ".5", "0x1F", "1_000"];
/** Text constants: names, settings values and nothing at all. */
const PLAIN = ["x", "users", "on", "off", "public", "UTF8", "1", "", "seq1", "select 1", "it''s"];
/** Functions never called with real arguments: they wait, or hold locks across messages. */
const NO_REAL_ARGS = /sleep|advisory|terminate|cancel|lo_|pg_stat_reset|replication|_wal|backup/;

function frags(r: Rng, max: number): string {
  let s = "";
  for (let n = r.int(max + 1); n > 0; n--) s += r.pick(FRAGS);
  return s;
}

/** A string constant in one of PostgreSQL's quoting forms. */
export function stringLit(r: Rng): string {
  const body = frags(r, 4);
  const quoted = body.replaceAll("'", "''");
  const k = r.plain ? 9 : r.int(10);
  if (k < 3) return `'${quoted}'`;
  if (k === 3) { // E'': backslash escapes, including the escaped quote.
    const esc = r.pick(["\\'", "\\\\", "\\n", "\\x41", "\\u00e9", "\\101", "''", "\\;"]);
    return `${r.pick(["E", "e"])}'${body.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}${esc}'`;
  }
  if (k === 4) { // U&'': escapes in the default or a chosen escape character.
    return r.chance(0.5)
      ? `U&'${quoted.replaceAll("\\", "\\\\")}\\0061\\+000062'`
      : `U&'${quoted.replaceAll("!", "!!")}!0063' UESCAPE '!'`;
  }
  if (k === 5) { // Dollar quotes, tagged or not; the body must not close them early.
    const tag = r.pick(["", "t", "a_1", "ü"]);
    const end = r.pick(tag === "" ? ["'", ";", ""] : ["$$", "'", ";", ""]);
    return `$${tag}$${body.replaceAll("$", "")}${end}$${tag}$`;
  }
  if (k === 6) return r.pick(["B'101'", "X'1F'", "N'nat'", "b''", "x'0'"]);
  // Constants continue across a newline: 'a'\n'b' is 'ab'.
  if (k === 7) return `'${quoted}'\n'${r.pick(FRAGS).replaceAll("'", "''")}'`;
  if (k === 8) return `'${r.pick(["semi;colon", "-- no", "/* no */", "a\\", "\\\\", "$$"])}'`;
  return `'${r.pick(PLAIN)}'`;
}

/** Whitespace or a comment between two tokens. */
function sep(r: Rng): string {
  if (r.plain) return " ";
  const k = r.int(24);
  if (k < 15) return " ";
  return ["\n", "\n", " /* c ; ' $$ */ ", " /* /* nested ; */ ' \" */ ", " -- ; ' $$ /*\n", "\t"]
    .concat("/**/", " /* é;😀 */ ", "\r\n")[k - 15];
}

/** Tokens joined by random whitespace and comments. */
function toks(r: Rng, ...parts: string[]): string {
  let s = parts[0];
  for (let i = 1; i < parts.length; i++) s += sep(r) + parts[i];
  return s;
}

const table = (r: Rng) => r.chance(0.9) ? r.pick(TABLES) : r.pick(ODD_TABLES);
const column = (r: Rng) => r.pick(COLUMNS);
const num = (r: Rng) => r.plain || r.chance(0.85) ? String(r.int(5)) : r.pick(NUMBERS);

function argFor(r: Rng, type: string, real: boolean): string {
  // Most catalog functions are strict: NULL arguments mean they return without running.
  if (!real || r.chance(0.4)) return r.chance(0.8) ? "null" : `null::${type}`;
  if (/^(integer|bigint|smallint|numeric|double precision|real|oid)$/.test(type)) return "1";
  if (/^(text|name|character varying|regclass|cstring)$/.test(type)) return `'${r.pick(PLAIN)}'`;
  return type === "boolean" ? r.pick(["true", "false"]) : "null";
}

/** A call of a catalog function, named plainly, qualified or quoted. */
export function callOf(r: Rng, fns: readonly FnSig[]): string {
  const f = r.pick(fns);
  const real = !NO_REAL_ARGS.test(f.name);
  const name = r.pick([f.name, f.name, `pg_catalog.${f.name}`, `"${f.name}"`]);
  return `${name}(${f.args.map((t) => argFor(r, t, real)).join(", ")})`;
}

function expr(r: Rng, fns: readonly FnSig[], depth = 0): string {
  const k = depth > 1 ? r.int(4) : r.int(10);
  if (k === 0) return num(r);
  if (k === 1) return stringLit(r);
  if (k === 2) return column(r);
  if (k === 3) return r.pick(["null", "true", "current_user", "now()", "$1"]);
  if (k === 4) {
    return toks(r, expr(r, fns, depth + 1), r.pick(["+", "||", "=", "<>", "and"]), expr(r, fns));
  }
  if (k < 7) return callOf(r, fns);
  if (k === 7) return toks(r, "(", "select", "count(*)", "from", table(r), ")");
  if (k === 8) return toks(r, "case", "when", expr(r, fns, 2), "then", stringLit(r), "end");
  return toks(r, stringLit(r), "::text");
}

/**
 * Statement templates: tokens are joined by random whitespace or comments; `~` is a space inside
 * a token; `{t}` table, `{c}` column, `{e}` expression, `{n}` number, `{s}` string constant,
 * `{f}` catalog call, `{w}` optional WHERE, `{q}` quoted identifier, `{o:a|b}` one of a or b.
 */
const TEMPLATES = `select {e} , {e} from {t} {w}
select {e} {o:|,~{s}|,~{s},~{s}}
select {f} {o:as~x|,~{f}}
select {e} {o:as|} {q}
values ( {e} )
table {t}
with w as ( {o:select~*~from~{t}|delete~from~orders~where~id~=~{n}~returning~*} ) select * from w
select * from {t} for {o:update|share}
select * into temp tmp_x from {t}
insert into orders values ( {n}0 , {n} , {n} , {s} ) {o:|on~conflict~(id)~do~update~set~memo~=~'c'}
insert into "Ünïcode" select {n} , {s}
update {t} set {c} = {e} {w}
delete from {t} {w} {o:|returning~*}
merge into orders o using users u on o.id = u.id when matched then {o:delete|do~nothing}
create {o:table|temp~table} {o:t_new|"T;new"} ( a int , b text default {s} )
create {o:view~v_new|table~t_as} as select {e} from {t}
create {o:index~on~users~(name)|schema~s_new|sequence~s_new|materialized~view~m~as~select~1}
create function f_new ( ) returns int language sql as {o:$$select~1$$|'select~2'|$f$~select~3;~$f$}
drop {o:table|view|index|function|sequence} {o:|if~exists} {o:users|seq1|v_users|t_new|f_new}
alter table {t} {o:add~column~c~int|rename~to~t_ren|owner~to~sqlfuzz_other|drop~column~note}
truncate {o:orders|users|users,~orders}
comment on table {t} is {s}
{o:grant~select~on|revoke~all~on} {t} {o:to|from} {o:public|sqlfuzz_other}
set {o:local|session|} {o:work_mem|application_name|statement_timeout} {o:=|to} {o:'4MB'|default|{s}}
{o:reset|show} {o:work_mem|all|search_path|role|time~zone}
{o:begin|start~transaction~read~only|commit|rollback|end|abort|savepoint~s1|release~s1}
{o:rollback~to~savepoint~s1|commit~and~chain|set~transaction~read~only|set~constraints~all~deferred}
prepare {o:p1|p2} as select {e} from {t}
{o:execute~p1|execute~p2|deallocate~p1|deallocate~all|execute~p2(1)}
do {o:$$~begin~perform~1;~end~$$|$d$~begin~raise~notice~';';~end~$d$|$$begin~delete~from~orders;end$$}
copy {o:{t}|(select~{e})} to stdout {o:|with~csv|(format~text)}
explain {o:|analyze|(costs~off)} select {e} from {t}
{o:vacuum|analyze|cluster|reindex~table} {t}
{o:listen|unlisten|notify} {o:chan|"c;h"|*}
lock table {t} in {o:share|access~exclusive} mode
{o:declare~c1~cursor~for~select~*~from~users|fetch~next~from~c1|move~c1|close~c1|close~all}
{o:discard~all|discard~plans|checkpoint|load~'x'|call~f_new()|refresh~materialized~view~v_users}
{o:security~label~on~table~users~is~'x'|reassign~owned~by~sqlfuzz_other~to~current_user|declare~c2~cursor~with~hold~for~select~1}
{o:alter~system~set~work_mem~=~'1MB'|create~rule~r1~as~on~insert~to~users~do~instead~nothing|import~foreign~schema~s~from~server~x~into~public}`
  .split("\n");

function fill(r: Rng, fns: readonly FnSig[], token: string): string {
  if (token.startsWith("{o:")) return fill(r, fns, r.pick(token.slice(3, -1).split("|")));
  return token.replaceAll("~", " ").replace(/\{([tcenfswq])\}/g, (_, k: string): string => {
    if (k === "t") return table(r);
    if (k === "c") return column(r);
    if (k === "e") return expr(r, fns);
    if (k === "n") return num(r);
    if (k === "s") return stringLit(r);
    if (k === "f") return callOf(r, fns);
    if (k === "q") return `"${frags(r, 3).replaceAll('"', '""')}"`;
    return r.chance(0.5) ? "" : toks(r, "where", column(r), r.pick(["=", "<"]), expr(r, fns, 2));
  });
}

/** One statement, drawn over every kind of statement PostgreSQL has. */
export function statement(r: Rng, fns: readonly FnSig[]): string {
  const tokens = r.pick(TEMPLATES).split(" ").map((t) => fill(r, fns, t)).filter((t) => t !== "");
  return toks(r, ...tokens);
}

/**
 * One simple-Query message: one to four statements, with stray semicolons and comments. One in
 * five is plain (ASCII constants, single spaces, one statement), the texts whose parse the
 * gateway reuses for every text of the same shape.
 */
export function text(r: Rng, fns: readonly FnSig[]): string {
  r.plain = r.chance(0.2);
  try {
    if (r.plain) return statement(r, fns);
    const n = r.chance(0.6) ? 1 : 2 + r.int(3);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(statement(r, fns));
    let s = parts.join(r.pick([";", "; ", ";\n", " ;;", ";/* ; */"]));
    if (r.chance(0.2)) s += ";";
    if (r.chance(0.1)) s = r.pick(["/* lead */ ", "-- lead ;\n", ";", " "]) + s;
    return r.chance(0.03) ? r.pick(["", ";", " ", "-- only a comment", "/* only */"]) : s;
  } finally {
    r.plain = false;
  }
}

/** Messages that change, or try to change, a setting the gateway must pin. */
export const SETTERS = `set standard_conforming_strings = off
SET standard_conforming_strings TO 'off'
set session standard_conforming_strings = false
set local standard_conforming_strings = off; select 1
select set_config('standard_conforming_strings', 'off', false)
select pg_catalog.set_config('standard_conforming_strings','off',false)
select set_config('standard_' || 'conforming_strings', 'off', false)
select set_config(name, 'off', false) from pg_settings where name = 'standard_conforming_strings'
select set_config(E'search\\x5fpath', 'evil', false)
select "set_config"(('role')::text, 'sqlfuzz_other', false)
select query_to_xml('select set_config(''search_path'', ''evil'', false)', true, false, '')
set standard_conforming_strings = 'on'
update pg_settings set setting = 'off' where name = 'standard_conforming_strings'
update pg_catalog.pg_settings set setting = 'sqlfuzz_other' where name = 'role'
with s as (update pg_settings set setting = 'evil' where name = 'search_path') select 1
set backslash_quote = on
set search_path = evil, public
select set_config('search_path', 'pg_temp, public', false)
update pg_settings set setting = 'pg_temp, public' where name = 'search_path'
set role sqlfuzz_other
set session authorization sqlfuzz_other
set role none
reset role
reset all
discard all
set client_encoding = 'SJIS'
set client_encoding = 'UTF8'
set names 'LATIN1'
set client_encoding to default
alter role sqlfuzz set standard_conforming_strings = off
commit; set standard_conforming_strings = off
prepare ps as select set_config('search_path', 'evil', false)
execute ps
do $$ begin perform set_config('search_path', 'evil', false); end $$
select set_config('search_path', current_setting('search_path'), false)`.split("\n");

/** Statements smuggled inside texts read differently once a setting changed. */
const PAYLOADS = ["drop table users", "delete from orders", "select 1", "commit", "truncate users"];

/**
 * Texts the gateway (standard strings, UTF-8) reads as one statement and a server with
 * standard_conforming_strings off, backslash_quote on or a Shift-JIS client encoding reads as two.
 */
function followup(r: Rng): string {
  const p = r.pick(PAYLOADS);
  return r.pick([
    `select 'a\\' , $$' ; ${p}; -- $$`,
    `select '\\' , /*' ; ${p}; -- */ 1`,
    `select 'x\\' as "' ; ${p}; -- "`,
    `select 'a\\'' ; ${p}; -- '`,
    `select E'ā\\' ; ${p}; -- '`,
    `select E'\\'' , $$' ; ${p}; -- $$`,
    `select U&'\\0027' ; ${p}`,
    `select 'ソ\\' || $$' ; ${p}; -- $$`,
  ]);
}

/** Pairs whose first text is allowed and second refused: the same shape, other constants. */
const PAIRS = [
  ["set standard_conforming_strings = 'on'", "set standard_conforming_strings = 'off'"],
  ["set client_encoding = 'UTF8'", "set client_encoding = 'SJIS'"],
  ["set standard_conforming_strings to 'true'", "set standard_conforming_strings to 'no'"],
  ["select set_config('work_mem', '1MB', false)", "select set_config('role', 'none', false)"],
];

/**
 * A session: the messages of one connection in order. A quarter first try to change a pinned
 * setting (the same setting twice, once allowed and once not, probes the gateway's caches).
 */
export function session(r: Rng, fns: readonly FnSig[]): string[] {
  const out: string[] = [];
  if (r.chance(0.75)) {
    for (let n = 1 + r.int(6); n > 0; n--) out.push(text(r, fns));
    return out;
  }
  for (let n = 1 + r.int(2); n > 0; n--) out.push(r.pick(SETTERS));
  if (r.chance(0.2)) out.push(...r.pick(PAIRS));
  for (let n = 1 + r.int(3); n > 0; n--) out.push(r.chance(0.7) ? followup(r) : text(r, fns));
  return out;
}

/** Other constants for same-shape texts: values the gateway's refusals depend on. */
const ALT: Record<string, string[]> = { i: ["0", "7"], f: ["2.5"] };
ALT.s = ["'on'", "'off'", "'UTF8'", "'x'", "''", "'search_path'", "'select 1'"];
/** The `pick`s that make every different same-shape text {@linkcode sameShape} makes. */
export const SHAPE_PICKS = ALT.s.map((_, i) => i);

/**
 * A text of `shape` (see `_literal_shape.ts`: each constant is U+0001 and its kind `i`, `f` or
 * `s`) with other constants, chosen from `pick` on.
 */
export function sameShape(shape: string, pick: number): string {
  const [head, ...marks] = shape.split("\u0001");
  return head + marks.map((m, i) => ALT[m[0]][(pick + i) % ALT[m[0]].length] + m.slice(1)).join("");
}

/**
 * Delta debugging: a smaller sublist of `items` that still `fails`, within `budget` tries (the
 * shrinker makes its candidate texts and prefixes with it).
 */
export async function ddmin<T>(
  items: T[],
  fails: (xs: T[]) => Promise<boolean>,
  budget: { n: number },
) {
  let n = 2;
  while (items.length >= 2 && budget.n > 0) {
    const size = Math.ceil(items.length / n);
    let reduced = false;
    for (let i = 0; !reduced && i < items.length && budget.n-- > 0; i += size) {
      const rest = [...items.slice(0, i), ...items.slice(i + size)];
      if (await fails(rest)) [items, n, reduced] = [rest, Math.max(n - 1, 2), true];
    }
    if (!reduced && n >= items.length) break;
    if (!reduced) n = Math.min(n * 2, items.length);
  }
  return items;
}
