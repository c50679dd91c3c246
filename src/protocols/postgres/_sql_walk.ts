/**
 * Walks one libpg-query (PostgreSQL 18) statement AST and collects its facts. Private helper of
 * `sql_facts.ts`: the AST is plain JSON, so the walk is generic (every object and array) and only
 * a handful of node shapes are special-cased, which keeps it correct for node types it has never
 * seen.
 *
 * @module
 */

import { verbFor } from "./_sql_verbs.ts";

export { verbFor };

type Obj = Record<string, unknown>;
type Scope = ReadonlySet<string>;

/** Facts of one statement, before the caller adds the statement text. */
export interface WalkFacts {
  verb: string;
  verbs: string[];
  tables: string[];
  functions: string[];
  dynamic: boolean;
  /** Every function call, in source order, with its name parts and argument nodes. */
  calls: FunctionCall[];
  /** Every `VariableSetStmt` (SET, RESET, and the SET inside ALTER SYSTEM/ROLE/DATABASE). */
  settingChanges: Obj[];
  /** Operator names (`["="]`, `["public", "==="]`): each one calls a function. */
  operators: string[][];
  /** Type names cast to or declared (`["pg_catalog", "int4"]`): casts run input functions. */
  types: string[][];
  /** `FOR UPDATE`/`FOR SHARE` and kin: the read takes row locks. */
  locksRows: boolean;
  /** Prepared statements it defines, runs or drops (SQL PREPARE/EXECUTE/DEALLOCATE, DISCARD). */
  preparedOps: PreparedOp[];
}

/** One use of the session's prepared statements; `name` null is every one (DEALLOCATE ALL). */
export interface PreparedOp {
  op: "prepare" | "execute" | "deallocate";
  name: string | null;
}

/** A function call found in the statement. */
export interface FunctionCall {
  name: string[];
  args: unknown[];
}

const EMPTY_SCOPE: Scope = new Set();

/** Statements that can run SQL the parser cannot see (bodies, prepared plans, server programs). */
const DYNAMIC = new Set([
  "DoStmt",
  "ExecuteStmt",
  "CreateFunctionStmt",
  "CreateTrigStmt",
  "RuleStmt",
  "CreateEventTrigStmt",
  "LoadStmt",
]);

/** Object kinds whose name lists (DROP, COMMENT ON, ...) name a relation. */
const RELATION_KINDS = new Set([
  "OBJECT_TABLE",
  "OBJECT_VIEW",
  "OBJECT_MATVIEW",
  "OBJECT_INDEX",
  "OBJECT_SEQUENCE",
  "OBJECT_FOREIGN_TABLE",
]);
/** Object kinds named `relation.object` (`DROP TRIGGER tr ON t` gives `[t, tr]`). */
const ON_RELATION_KINDS = new Set(["OBJECT_TRIGGER", "OBJECT_RULE", "OBJECT_POLICY"]);
const FUNCTION_KINDS = new Set([
  "OBJECT_FUNCTION",
  "OBJECT_PROCEDURE",
  "OBJECT_ROUTINE",
  "OBJECT_AGGREGATE",
]);

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The `sval`s of a list of `{String:{sval}}` nodes, or null when it is anything else. */
function stringList(list: unknown): string[] | null {
  if (!Array.isArray(list) || list.length === 0) return null;
  const out: string[] = [];
  for (const item of list) {
    const s = isObj(item) && isObj(item.String) ? item.String.sval : undefined;
    if (typeof s !== "string") return null;
    out.push(s);
  }
  return out;
}

function isStmtKey(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 65 && c <= 90 && key.length > 4 && key.endsWith("Stmt");
}

/** Accumulates one statement's facts, deduplicating in first-seen order. */
class Collector {
  readonly verbs: string[] = [];
  readonly tables: string[] = [];
  readonly functions: string[] = [];
  dynamic = false;
  readonly calls: FunctionCall[] = [];
  readonly settingChanges: Obj[] = [];
  readonly operators: string[][] = [];
  readonly types: string[][] = [];
  locksRows = false;
  readonly preparedOps: PreparedOp[] = [];
  readonly #seenVerbs = new Set<string>();
  readonly #seenTables = new Set<string>();
  readonly #seenFunctions = new Set<string>();

  verb(v: string): void {
    if (this.#seenVerbs.has(v)) return;
    this.#seenVerbs.add(v);
    this.verbs.push(v);
  }

  /** Adds `a.b.c`, `b.c` and `c`: rules can match any qualification level. */
  table(parts: readonly string[]): void {
    addQualified(parts, this.tables, this.#seenTables);
  }

  fn(parts: readonly string[]): void {
    addQualified(parts, this.functions, this.#seenFunctions);
  }
}

function addQualified(parts: readonly string[], out: string[], seen: Set<string>): void {
  for (let i = 0; i < parts.length; i++) {
    const name = parts.slice(i).join(".");
    if (seen.has(name)) continue;
    seen.add(name);
    out.push(name);
  }
}

function relationParts(rv: Obj): string[] {
  const parts: string[] = [];
  for (const p of [rv.catalogname, rv.schemaname, rv.relname]) {
    if (typeof p === "string" && p !== "") parts.push(p);
  }
  return parts;
}

/** A relation referenced by a `{RangeVar}` node: an unqualified CTE name in scope is no table. */
function rangeRef(c: Collector, rv: Obj, scope: Scope): void {
  const unqualified = !rv.schemaname && !rv.catalogname;
  if (unqualified && typeof rv.relname === "string" && scope.has(rv.relname)) return;
  c.table(relationParts(rv));
}

/**
 * Objects a utility statement names by lists rather than RangeVars: `DROP TABLE a.b`,
 * `DROP TRIGGER tr ON t`, `DROP FUNCTION f(int)`, `COMMENT ON TABLE t`, `ALTER FUNCTION f() ...`.
 */
function namedObjects(c: Collector, type: string, node: Obj): void {
  let kind = node.removeType ?? node.objtype ?? node.objectType ?? node.renameType;
  if (type === "CreateCastStmt") kind = "OBJECT_FUNCTION";
  if (typeof kind !== "string") return;
  const objects = Array.isArray(node.objects)
    ? node.objects
    : [node.object, node.func].filter((o) => o !== undefined);
  for (const o of objects) {
    if (!isObj(o)) continue;
    if (FUNCTION_KINDS.has(kind)) {
      // ObjectWithArgs comes wrapped in lists and bare in AlterFunctionStmt.func.
      const owa = isObj(o.ObjectWithArgs) ? o.ObjectWithArgs : o;
      const name = stringList(owa.objname);
      if (name) c.fn(name);
    } else if (isObj(o.List)) {
      const name = stringList(o.List.items);
      if (!name) continue;
      if (RELATION_KINDS.has(kind)) c.table(name);
      else if (ON_RELATION_KINDS.has(kind) && name.length > 1) c.table(name.slice(0, -1));
    }
  }
}

/** Verbs a statement performs beyond its own: SELECT INTO, ON CONFLICT DO UPDATE, MERGE actions. */
function impliedVerbs(c: Collector, type: string, node: Obj): void {
  if (type === "SelectStmt" && isObj(node.intoClause)) c.verb("create");
  if (type === "InsertStmt") {
    const oc = node.onConflictClause;
    if (isObj(oc) && oc.action === "ONCONFLICT_UPDATE") c.verb("update");
  }
  if (type === "MergeStmt" && Array.isArray(node.mergeWhenClauses)) {
    for (const w of node.mergeWhenClauses) {
      const cmd = isObj(w) && isObj(w.MergeWhenClause) ? w.MergeWhenClause.commandType : undefined;
      if (cmd === "CMD_UPDATE" || cmd === "CMD_INSERT" || cmd === "CMD_DELETE") {
        c.verb(cmd.slice(4).toLowerCase());
      }
    }
  }
}

/**
 * Records what the read-only and settings facts need: ALTER SYSTEM/ROLE/DATABASE carry their
 * SET bare (not wrapped as a statement), operators and casts call functions too, and
 * `FOR UPDATE` locks what it reads.
 */
function noteEffects(c: Collector, obj: Obj, field: string): void {
  if (isObj(obj.setstmt)) c.settingChanges.push(obj.setstmt);
  if (field === "A_Expr" && Array.isArray(obj.name)) {
    // BETWEEN carries its keywords as the name; it compares with >= and <= (or < and > negated).
    if (typeof obj.kind === "string" && obj.kind.includes("BETWEEN")) {
      c.operators.push([">="], ["<="], ["<"], [">"]);
    } else {
      const op = stringList(obj.name);
      if (op) c.operators.push(op);
    }
  }
  // ORDER BY … USING op.
  if (field === "SortBy" && Array.isArray(obj.useOp)) {
    const op = stringList(obj.useOp);
    if (op) c.operators.push(op);
  }
  if (field === "TypeName" || field === "typeName") {
    const t = stringList(obj.names);
    if (t) c.types.push(t);
  }
  if (Array.isArray(obj.lockingClause) && obj.lockingClause.length > 0) c.locksRows = true;
}

function preparedOp(c: Collector, type: string, node: Obj): void {
  const name = typeof node.name === "string" ? node.name : "";
  if (type === "PrepareStmt") c.preparedOps.push({ op: "prepare", name });
  else if (type === "ExecuteStmt") c.preparedOps.push({ op: "execute", name });
  else if (type === "DeallocateStmt") {
    c.preparedOps.push({ op: "deallocate", name: node.isall === true ? null : name });
  } else if (type === "DiscardStmt" && node.target === "DISCARD_ALL") {
    c.preparedOps.push({ op: "deallocate", name: null });
  }
}

/** One pending step of the walk: an AST object, a statement node, or a `{RangeVar}` reference. */
type Work =
  | ObjectWork
  | { kind: "stmt"; type: string; node: Obj; scope: Scope }
  | { kind: "range"; node: Obj; scope: Scope };

/** An AST object to visit; `field` is the key it hangs under in its parent. */
interface ObjectWork {
  kind: "obj";
  node: Obj;
  scope: Scope;
  field: string;
}

/** One walk's state, made once per walk: where facts go and the steps still to take. */
interface WalkState {
  c: Collector;
  stack: Work[];
}

/**
 * Depth-first walk with an explicit stack: a 100 KB `UNION ALL` chain nests thousands of levels
 * deep, which would overflow the JS call stack if walked recursively. Children are pushed in
 * reverse so facts come out in source order.
 */
function walk(c: Collector, first: Work): void {
  const stack: Work[] = [first];
  const state: WalkState = { c, stack };
  let work: Work | undefined;
  while ((work = stack.pop()) !== undefined) {
    if (work.kind === "range") rangeRef(c, work.node, work.scope);
    else if (work.kind === "stmt") {
      const { type, node } = work;
      c.verb(verbFor(type, node));
      if (type === "VariableSetStmt") c.settingChanges.push(node);
      preparedOp(c, type, node);
      if (DYNAMIC.has(type) || (type === "CopyStmt" && node.is_program === true)) c.dynamic = true;
      impliedVerbs(c, type, node);
      namedObjects(c, type, node);
      stack.push({ kind: "obj", node, scope: work.scope, field: "" });
    } else visitObject(work, state);
  }
}

/** Pushes `v`'s objects (arrays flattened) in reverse so they pop in order. */
function pushValue(stack: Work[], v: unknown, scope: Scope, field: string): void {
  if (Array.isArray(v)) {
    for (let i = v.length - 1; i >= 0; i--) pushValue(stack, v[i], scope, field);
  } else if (isObj(v)) {
    stack.push({ kind: "obj", node: v, scope, field });
  }
}

/** `work.field` is the key the object hangs under in its parent (to spot INSERT's VALUES list). */
function visitObject(work: ObjectWork, { c, stack }: WalkState): void {
  const { node: obj, scope, field } = work;
  // Bare RangeVars (DML targets, COPY, ALTER TABLE, CREATE ...) always name a real relation:
  // even `WITH t AS (...) DELETE FROM t` deletes from the table t.
  if (typeof obj.relname === "string") c.table(relationParts(obj));
  // FuncCall, CallStmt.funccall, and the functions CREATE FUNCTION/TRIGGER name.
  if (Array.isArray(obj.funcname)) {
    const name = stringList(obj.funcname);
    if (name) {
      c.fn(name);
      // Only FuncCall nodes call; CREATE FUNCTION and triggers merely name a function.
      if (field === "FuncCall" || field === "funccall") {
        c.calls.push({ name, args: Array.isArray(obj.args) ? obj.args : [] });
      }
    }
  }
  noteEffects(c, obj, field);
  const w = isObj(obj.withClause) ? obj.withClause : undefined;
  // Most nodes have no WITH: they allocate nothing for it.
  const ctes: readonly unknown[] = w && Array.isArray(w.ctes) ? w.ctes : NOTHING;
  const names: readonly string[] = ctes.length > 0 ? ctes.map(cteName) : NOTHING;
  const inner = names.length > 0 ? new Set([...scope, ...names]) : scope;
  // Children are pushed in key order, then that stretch of the stack is reversed, so they pop in
  // key order (arrays flattened in order) without copying the keys or the arrays.
  const from = stack.length;
  for (const key in obj) {
    // Own keys only, as Object.keys would give: nothing inherited is part of the tree.
    if (key === "withClause" || !Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    if (typeof v !== "object" || v === null) continue;
    if (key === "RangeVar" && isObj(v)) {
      stack.push({ kind: "range", node: v, scope: inner });
    } else if (isStmtKey(key) && isObj(v)) {
      // INSERT ... VALUES wraps its rows in a SelectStmt; that reads nothing, so no "select".
      if (key === "SelectStmt" && field === "selectStmt" && v.valuesLists && !v.fromClause) {
        stack.push({ kind: "obj", node: v, scope: inner, field: key });
      } else {
        stack.push({ kind: "stmt", type: key, node: v, scope: inner });
      }
    } else {
      pushInOrder(stack, v, inner, key);
    }
  }
  for (let i = from, j = stack.length - 1; i < j; i++, j--) {
    const t = stack[i];
    stack[i] = stack[j];
    stack[j] = t;
  }
  // Pushed last so CTE bodies pop first, in definition order. A plain WITH's query sees only
  // the CTEs before it; WITH RECURSIVE sees them all.
  for (let i = ctes.length - 1; i >= 0; i--) {
    const s = w?.recursive === true ? inner : new Set([...scope, ...names.slice(0, i)]);
    pushValue(stack, ctes[i], s, "ctes");
  }
}

const NOTHING: readonly never[] = Object.freeze([]);

function cteName(x: unknown): string {
  const name = isObj(x) && isObj(x.CommonTableExpr) ? x.CommonTableExpr.ctename : undefined;
  return typeof name === "string" ? name : "";
}

/** Pushes `v`'s objects (arrays flattened) in order: `visitObject` reverses them after. */
function pushInOrder(stack: Work[], v: unknown, scope: Scope, field: string): void {
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) pushInOrder(stack, v[i], scope, field);
  } else if (isObj(v)) {
    stack.push({ kind: "obj", node: v, scope, field });
  }
}

/**
 * Collects the facts of one top-level statement node (`stmts[i].stmt` of a parse result, e.g.
 * `{ SelectStmt: {...} }`).
 *
 * @example
 * ```ts
 * collectFacts({ DropStmt: { removeType: "OBJECT_TABLE", objects: [] } }).verb; // "drop"
 * ```
 */
export function collectFacts(stmt: Obj): WalkFacts {
  const c = new Collector();
  const type = Object.keys(stmt)[0];
  if (type === undefined) throw new Error("empty statement node");
  const node = stmt[type];
  walk(c, { kind: "stmt", type, node: isObj(node) ? node : {}, scope: EMPTY_SCOPE });
  return {
    verb: c.verbs[0],
    verbs: c.verbs,
    tables: c.tables,
    functions: c.functions,
    dynamic: c.dynamic,
    calls: c.calls,
    settingChanges: c.settingChanges,
    operators: c.operators,
    types: c.types,
    locksRows: c.locksRows,
    preparedOps: c.preparedOps,
  };
}
