# Postgres: plain reads allowed, writes with approval; no schema changes, no dynamic SQL, no
# session setting changes, no functions with effects outside the query.
#
# The gateway itself refuses (before these rules) any change to the settings it pins:
# standard_conforming_strings, backslash_quote, client_encoding, search_path, role and
# session_authorization, and any Bind or EXECUTE of a statement it did not see prepared.

rule "pg-no-ddl" {
  endpoint  = postgres.db
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop', 'truncate', 'alter', 'create', 'grant', 'revoke'])"
  verdict   = "deny"
  reason    = "Schema and privilege changes land via a migration PR, not via the agent"
}

rule "pg-no-dynamic" {
  endpoint  = postgres.db
  priority  = 100
  # DO blocks, EXECUTE, COPY ... PROGRAM and functions that run query text hide what they run.
  condition = "sql.dynamic"
  verdict   = "deny"
  reason    = "Dynamic SQL and server-side programs are not allowed"
}

rule "pg-no-settings" {
  endpoint  = postgres.db
  priority  = 90
  # Timeouts and transaction characteristics are harmless; any other setting stays as logged in.
  condition = "!sql.settings.all(s, s in ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable', 'application_name', 'all'])"
  verdict   = "deny"
  reason    = "Session settings stay as the gateway logged in"
}

rule "pg-session-limits" {
  endpoint  = postgres.db
  priority  = 10
  condition = "sql.verbs.all(v, v in ['set', 'reset']) && sql.settings.all(s, s in ['statement_timeout', 'lock_timeout', 'idle_in_transaction_session_timeout', 'transaction_isolation', 'transaction_read_only', 'transaction_deferrable', 'application_name', 'all'])"
  verdict   = "allow"
}

rule "pg-reads" {
  endpoint  = postgres.db
  priority  = 10
  # Read verbs only, and every function, operator and type a PostgreSQL built-in without effects
  # outside the query (no files, large objects, processes, locks, sequences, settings).
  condition = "sql.read_only"
  verdict   = "allow"
}

rule "pg-writes" {
  endpoint  = postgres.db
  condition = "sql.verbs.exists(v, v in ['insert', 'update', 'delete', 'merge'])"
  approve   = [human_approver.ops]
  reason    = "Data changes need a human's approval"
}
