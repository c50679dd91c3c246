/**
 * Walks one libpg-query (PostgreSQL 18) statement AST and collects its facts. Private helper of
 * `sql_facts.ts`: the AST is plain JSON, so the walk is generic (every object and array) and only
 * a handful of node shapes are special-cased, which keeps it correct for node types it has never
 * seen.
 *
 * @module
 */

import {
  Collector,
  type FunctionCall,
  isObj,
  isStmtKey,
  type Obj,
  type PreparedOp,
  rangeRef,
  relationParts,
  type Scope,
  statementNode,
  stringList,
} from "./_sql_nodes.ts";

export { verbFor } from "./_sql_verbs.ts";
export type { FunctionCall, PreparedOp };

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

const EMPTY_SCOPE: Scope = new Set();

/**
 * Records what the read-only and settings facts need: ALTER SYSTEM/ROLE/DATABASE carry their
 * SET bare (not wrapped as a statement), operators and casts call functions too, and
 * `FOR UPDATE` locks what it reads. `keys` holds the node's own values of the keys this reads.
 */
function noteEffects(c: Collector, keys: SpecialKeys, field: string): void {
  if (isObj(keys.setstmt)) c.settingChanges.push(keys.setstmt);
  if (field === "A_Expr" && Array.isArray(keys.name)) {
    // BETWEEN carries its keywords as the name; it compares with >= and <= (or < and > negated).
    if (typeof keys.kind === "string" && keys.kind.includes("BETWEEN")) {
      c.operators.push([">="], ["<="], ["<"], [">"]);
    } else {
      const op = stringList(keys.name);
      if (op) c.operators.push(op);
    }
  }
  // ORDER BY … USING op.
  if (field === "SortBy" && Array.isArray(keys.useOp)) {
    const op = stringList(keys.useOp);
    if (op) c.operators.push(op);
  }
  if (field === "TypeName" || field === "typeName") {
    const t = stringList(keys.names);
    if (t) c.types.push(t);
  }
  if (Array.isArray(keys.lockingClause) && keys.lockingClause.length > 0) c.locksRows = true;
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
  /**
   * Something enumerable was added to `Object.prototype` (prototype pollution in any
   * dependency): `for…in` would list it under every node, so each key is checked to be own.
   */
  inherited: boolean;
}

/**
 * The keys of an AST node the walk reads beyond its children. They are picked out while its keys
 * are listed: reading each by name instead costs a lookup per name on objects of hundreds of
 * shapes, most of which lack them (~3× the walk's time on a join, measured).
 */
interface SpecialKeys {
  relname: unknown;
  schemaname: unknown;
  catalogname: unknown;
  funcname: unknown;
  args: unknown;
  setstmt: unknown;
  name: unknown;
  kind: unknown;
  useOp: unknown;
  names: unknown;
  lockingClause: unknown;
  withClause: unknown;
}

/** No key read yet. A new object per node costs no more than clearing a shared one (measured). */
function noKeys(): SpecialKeys {
  return {
    relname: undefined,
    schemaname: undefined,
    catalogname: undefined,
    funcname: undefined,
    args: undefined,
    setstmt: undefined,
    name: undefined,
    kind: undefined,
    useOp: undefined,
    names: undefined,
    lockingClause: undefined,
    withClause: undefined,
  };
}

/** Whether `for…in` over a plain object would list inherited keys. */
function inheritsEnumerables(): boolean {
  for (const _ in {}) return true;
  return false;
}

/**
 * Depth-first walk with an explicit stack: a 100 KB `UNION ALL` chain nests thousands of levels
 * deep, which would overflow the JS call stack if walked recursively. Children are pushed in
 * reverse so facts come out in source order.
 */
function walk(c: Collector, first: Work): void {
  const stack: Work[] = [first];
  const state: WalkState = { c, stack, inherited: inheritsEnumerables() };
  let work: Work | undefined;
  while ((work = stack.pop()) !== undefined) {
    if (work.kind === "range") rangeRef(c, work.node, work.scope);
    else if (work.kind === "stmt") {
      const { type, node } = work;
      statementNode(c, type, node);
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
function visitObject(work: ObjectWork, { c, stack, inherited }: WalkState): void {
  const { node: obj, scope, field } = work;
  const keys = noKeys();
  // Children are pushed in key order, then that stretch of the stack is reversed, so they pop in
  // key order (arrays flattened in order) without copying the keys or the arrays. They get this
  // node's scope for now: a WITH, wherever its key comes, widens it below.
  const from = stack.length;
  for (const key in obj) {
    // Own keys only, as Object.keys would give: nothing inherited is part of the tree.
    if (inherited && !Object.hasOwn(obj, key)) continue;
    const v = obj[key];
    switch (key) {
      case "relname":
        keys.relname = v;
        break;
      case "schemaname":
        keys.schemaname = v;
        break;
      case "catalogname":
        keys.catalogname = v;
        break;
      case "funcname":
        keys.funcname = v;
        break;
      case "args":
        keys.args = v;
        break;
      case "setstmt":
        keys.setstmt = v;
        break;
      case "name":
        keys.name = v;
        break;
      case "kind":
        keys.kind = v;
        break;
      case "useOp":
        keys.useOp = v;
        break;
      case "names":
        keys.names = v;
        break;
      case "lockingClause":
        keys.lockingClause = v;
        break;
      case "withClause":
        keys.withClause = v;
        continue;
    }
    if (typeof v !== "object" || v === null) continue;
    if (key === "RangeVar" && isObj(v)) {
      stack.push({ kind: "range", node: v, scope });
    } else if (isStmtKey(key) && isObj(v)) {
      // INSERT ... VALUES wraps its rows in a SelectStmt; that reads nothing, so no "select".
      if (key === "SelectStmt" && field === "selectStmt" && v.valuesLists && !v.fromClause) {
        stack.push({ kind: "obj", node: v, scope, field: key });
      } else {
        stack.push({ kind: "stmt", type: key, node: v, scope });
      }
    } else {
      pushInOrder(stack, v, scope, key);
    }
  }
  // Bare RangeVars (DML targets, COPY, ALTER TABLE, CREATE ...) always name a real relation:
  // even `WITH t AS (...) DELETE FROM t` deletes from the table t.
  if (typeof keys.relname === "string") {
    c.table(relationParts(keys.catalogname, keys.schemaname, keys.relname));
  }
  // FuncCall, CallStmt.funccall, and the functions CREATE FUNCTION/TRIGGER name.
  if (Array.isArray(keys.funcname)) {
    const name = stringList(keys.funcname);
    if (name) {
      c.fn(name);
      // Only FuncCall nodes call; CREATE FUNCTION and triggers merely name a function.
      if (field === "FuncCall" || field === "funccall") {
        c.calls.push({ name, args: Array.isArray(keys.args) ? keys.args : [] });
      }
    }
  }
  noteEffects(c, keys, field);
  const w = isObj(keys.withClause) ? keys.withClause : undefined;
  // Most nodes have no WITH: they allocate nothing for it.
  const ctes: readonly unknown[] = w && Array.isArray(w.ctes) ? w.ctes : NOTHING;
  const names: readonly string[] = ctes.length > 0 ? ctes.map(cteName) : NOTHING;
  const inner = names.length > 0 ? new Set([...scope, ...names]) : scope;
  if (inner !== scope) { for (let i = from; i < stack.length; i++) stack[i].scope = inner; }
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
