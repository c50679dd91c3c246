# Postgres: read freely, write with approval, never change the schema or run dynamic code.

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
  # DO blocks, EXECUTE and COPY ... PROGRAM hide what they run from the parser.
  condition = "sql.dynamic"
  verdict   = "deny"
  reason    = "Dynamic SQL and server-side programs are not allowed"
}

rule "pg-reads" {
  endpoint  = postgres.db
  priority  = 10
  condition = "sql.verbs.all(v, v in ['select', 'show', 'explain', 'begin', 'commit', 'rollback', 'set'])"
  verdict   = "allow"
}

rule "pg-writes" {
  endpoint  = postgres.db
  condition = "sql.verbs.exists(v, v in ['insert', 'update', 'delete', 'merge'])"
  approve   = [human_approver.ops]
  reason    = "Data changes need a human's approval"
}
