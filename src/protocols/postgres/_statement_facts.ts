/**
 * One statement's facts from its AST: the walk, its effects, and the facts of every constant
 * query text it makes the server run, merged in. Private helper of `sql_facts.ts`.
 *
 * @module
 */

import { parsePg } from "./_pg_parser.ts";
import { collectFacts } from "./_sql_walk.ts";
import { effectsOf } from "./_sql_effects.ts";
import type { StatementFacts } from "./sql_facts.ts";

/** A statement's facts before its own text is added. */
export type Facts = Omit<StatementFacts, "statement">;

/**
 * Whether `facts` depend on the statement's string constants (a SET value, a `set_config` name,
 * a query text or table name a built-in reads), so another text of the same shape may differ.
 */
export function dependsOnConstants(facts: Facts): boolean {
  return constantDependent.has(facts);
}

/** Facts that depend on the statement's string constants (see `effectsOf`). */
const constantDependent = new WeakSet<object>();

/** How deep query texts inside query texts are followed before the gateway gives up on them. */
const MAX_QUERY_TEXT_DEPTH = 4;

/**
 * One statement's facts, with the facts of every constant query text it runs merged in
 * (`select query_to_xml('delete from t returning 1', …)` deletes from t).
 */
export function factsOf(stmt: Record<string, unknown>, depth = 0): Facts {
  const walked = collectFacts(stmt);
  const effects = effectsOf(walked);
  const out = {
    verb: walked.verb,
    verbs: walked.verbs,
    tables: walked.tables,
    functions: walked.functions,
    dynamic: walked.dynamic || effects.dynamic,
    settings: effects.settings,
    readOnly: effects.readOnly,
    unknown: effects.unknown,
    refusal: effects.refusal,
    preparedOps: walked.preparedOps,
    unqualifiedNames: bareNames(walked),
  };
  if (effects.readsConstants) constantDependent.add(out);
  for (const parts of effects.relations) addUnique(out.tables, qualifiedForms(parts));
  for (const text of effects.queryTexts) {
    const inner = depth < MAX_QUERY_TEXT_DEPTH ? nestedFacts(text, depth + 1) : null;
    if (inner === null) {
      // Unparseable or too deep: whatever it runs is unknown to the gateway.
      out.dynamic = true;
      out.readOnly = false;
      addUnique(out.unknown, ["sql.tables"]);
      continue;
    }
    for (const f of inner) {
      addUnique(out.verbs, f.verbs);
      addUnique(out.tables, f.tables);
      addUnique(out.functions, f.functions);
      addUnique(out.unqualifiedNames, f.unqualifiedNames);
      addUnique(out.settings, f.settings);
      addUnique(out.unknown, f.unknown);
      out.dynamic ||= f.dynamic;
      out.readOnly &&= f.readOnly;
      out.refusal ??= f.refusal;
      // A name defined or dropped out of the gateway's sight would desync its model of them.
      if (f.preparedOps.length > 0) {
        out.refusal ??=
          "prepared statements used inside a query text are not allowed through clawpatrol";
      }
      if (constantDependent.has(f)) constantDependent.add(out);
    }
  }
  return out;
}

/** Facts of a query text a function runs, or null when the parser rejects it. */
function nestedFacts(text: string, depth: number): Facts[] | null {
  if (text.includes("\0")) return null;
  let tree: unknown;
  try {
    tree = parsePg(text);
  } catch {
    return null;
  }
  const stmts = (tree as { stmts?: unknown }).stmts ?? [];
  if (!Array.isArray(stmts)) return null;
  return stmts.map((raw) => factsOf((raw as { stmt: Record<string, unknown> }).stmt, depth));
}

/** Names the statement uses unqualified: calls, operators and types. */
function bareNames(w: ReturnType<typeof collectFacts>): string[] {
  const names = new Set<string>();
  for (const c of w.calls) if (c.name.length === 1) names.add(c.name[0]);
  for (const list of [w.operators, w.types]) {
    for (const n of list) if (n.length === 1) names.add(n[0]);
  }
  return [...names];
}

function qualifiedForms(parts: readonly string[]): string[] {
  return parts.map((_, i) => parts.slice(i).join("."));
}

function addUnique(into: string[], items: readonly string[]): void {
  for (const item of items) if (!into.includes(item)) into.push(item);
}
