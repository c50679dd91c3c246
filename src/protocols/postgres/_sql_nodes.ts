/**
 * What single nodes of a libpg-query (PostgreSQL 18) statement AST say, and where the walk
 * (`_sql_walk.ts`) gathers it: a statement node's verbs and the objects it names, a relation a
 * `{RangeVar}` refers to. Private helper of the walk.
 *
 * @module
 */

import { verbFor } from "./_sql_verbs.ts";

/** An AST object, as JSON.parse gives it. */
export type Obj = Record<string, unknown>;
/** The CTE names visible where a node sits (an unqualified one of those is no table). */
export type Scope = ReadonlySet<string>;

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

export function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The `sval`s of a list of `{String:{sval}}` nodes, or null when it is anything else. */
export function stringList(list: unknown): string[] | null {
  if (!Array.isArray(list) || list.length === 0) return null;
  const out: string[] = [];
  for (const item of list) {
    const s = isObj(item) && isObj(item.String) ? item.String.sval : undefined;
    if (typeof s !== "string") return null;
    out.push(s);
  }
  return out;
}

export function isStmtKey(key: string): boolean {
  const c = key.charCodeAt(0);
  return c >= 65 && c <= 90 && key.length > 4 && key.endsWith("Stmt");
}

/** Accumulates one statement's facts, deduplicating in first-seen order. */
export class Collector {
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

export function relationParts(catalog: unknown, schema: unknown, relation: unknown): string[] {
  const parts: string[] = [];
  if (typeof catalog === "string" && catalog !== "") parts.push(catalog);
  if (typeof schema === "string" && schema !== "") parts.push(schema);
  if (typeof relation === "string" && relation !== "") parts.push(relation);
  return parts;
}

/** A relation referenced by a `{RangeVar}` node: an unqualified CTE name in scope is no table. */
export function rangeRef(c: Collector, rv: Obj, scope: Scope): void {
  const unqualified = !rv.schemaname && !rv.catalogname;
  if (unqualified && typeof rv.relname === "string" && scope.has(rv.relname)) return;
  c.table(relationParts(rv.catalogname, rv.schemaname, rv.relname));
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

/** What a statement node says by itself: its verb and those it implies, the objects it names. */
export function statementNode(c: Collector, type: string, node: Obj): void {
  c.verb(verbFor(type, node));
  if (type === "VariableSetStmt") c.settingChanges.push(node);
  preparedOp(c, type, node);
  if (DYNAMIC.has(type) || (type === "CopyStmt" && node.is_program === true)) c.dynamic = true;
  impliedVerbs(c, type, node);
  namedObjects(c, type, node);
}
