/**
 * The verb rules see for each statement node of libpg-query's (PostgreSQL 18) AST. Private
 * helper of `_sql_walk.ts`.
 *
 * @module
 */

type Obj = Record<string, unknown>;

/**
 * Node types whose verb is not their name without `Stmt`, lowercased. The rest come from that
 * rule: SelectStmt, InsertStmt, UpdateStmt, DeleteStmt, MergeStmt, CopyStmt, TruncateStmt,
 * DoStmt, ExecuteStmt, PrepareStmt, DeallocateStmt, ExplainStmt, ListenStmt, UnlistenStmt,
 * NotifyStmt, LockStmt, CallStmt, DiscardStmt, CommentStmt, ReindexStmt, ClusterStmt,
 * CheckPointStmt, LoadStmt (the tests pin each of them).
 */
const FIXED_VERBS: Record<string, string> = {
  RenameStmt: "alter",
  ReplicaIdentityStmt: "alter",
  DefineStmt: "create",
  IndexStmt: "create",
  ViewStmt: "create",
  CompositeTypeStmt: "create",
  RuleStmt: "create",
  ImportForeignSchemaStmt: "import",
  VariableShowStmt: "show",
  RefreshMatViewStmt: "refresh",
  DeclareCursorStmt: "declare",
  ClosePortalStmt: "close",
  ConstraintsSetStmt: "set",
  SecLabelStmt: "security_label",
  ReassignOwnedStmt: "reassign",
};

const TRANSACTION_VERBS: Record<string, string> = {
  TRANS_STMT_BEGIN: "begin",
  TRANS_STMT_START: "begin",
  TRANS_STMT_COMMIT: "commit",
  TRANS_STMT_ROLLBACK: "rollback",
  TRANS_STMT_SAVEPOINT: "savepoint",
  TRANS_STMT_RELEASE: "release",
  TRANS_STMT_ROLLBACK_TO: "rollback_to",
  TRANS_STMT_PREPARE: "prepare_transaction",
  TRANS_STMT_COMMIT_PREPARED: "commit_prepared",
  TRANS_STMT_ROLLBACK_PREPARED: "rollback_prepared",
};

/**
 * The lowercase verb for a statement node. Unmapped node types fall back to prefix rules
 * (`Create*` → create, `Alter*` → alter, `Drop*` → drop) and then to the node name without
 * `Stmt`, lowercased (`FrobnicateStmt` → `frobnicate`), so a new parser node still gets a verb.
 *
 * @example
 * ```ts
 * verbFor("VariableSetStmt", { kind: "VAR_SET_VALUE", name: "role" }); // "set_role"
 * ```
 */
export function verbFor(type: string, node: Obj): string {
  const fixed = FIXED_VERBS[type];
  if (fixed !== undefined) return fixed;
  switch (type) {
    case "GrantStmt":
    case "GrantRoleStmt":
      return node.is_grant === true ? "grant" : "revoke";
    case "VacuumStmt":
      return node.is_vacuumcmd === true ? "vacuum" : "analyze";
    case "FetchStmt":
      return node.ismove === true ? "move" : "fetch";
    case "TransactionStmt": {
      const kind = String(node.kind ?? "");
      return TRANSACTION_VERBS[kind] ??
        (kind.replace(/^TRANS_STMT_/, "").toLowerCase() || "transaction");
    }
    case "VariableSetStmt": {
      const name = node.name;
      if (node.kind === "VAR_RESET" || node.kind === "VAR_RESET_ALL") {
        if (name === "role") return "reset_role";
        if (name === "session_authorization") return "reset_session_authorization";
        return "reset";
      }
      if (name === "role") return "set_role";
      if (name === "session_authorization") return "set_session_authorization";
      return "set";
    }
  }
  if (type.startsWith("Create")) return "create";
  if (type.startsWith("Alter")) return "alter";
  if (type.startsWith("Drop")) return "drop";
  return type.replace(/Stmt$/, "").toLowerCase();
}
