# The config from DESIGN.md §3, with one-line blocks split where they set several attributes.
schema_version = 1

gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:8080"
  admin_listen = "127.0.0.1:8081"
  mode         = "enforce"
}

defaults {
  unknown_host     = "deny"
  no_match         = "deny"
  human_timeout    = 600
  human_on_timeout = "deny"
  llm_fail_mode    = "closed"
  llm_cache_ttl    = 300
}

endpoint "https" "github" { hosts = ["api.github.com", "*.githubusercontent.com"] }
endpoint "https" "openai" { hosts = ["api.openai.com"] }
endpoint "https" "billing" {
  hosts    = ["billing.internal"]
  upstream = "10.0.0.5:8443"
  ca_cert  = "<<file:internal-ca.pem>>"
}
endpoint "postgres" "pg" {
  host    = "db.internal:5432"
  listen  = "127.0.0.1:15432"
  sslmode = "require"
}
endpoint "kubernetes" "k8s-prod" {
  server  = "https://10.0.0.1:6443"
  listen  = "127.0.0.1:16443"
  ca_cert = "<<file:certs/k8s-ca.pem>>"
}

credential "bearer_token" "github_pat" { endpoint = https.github }
credential "postgres_credential" "pg_ro" {
  endpoint = postgres.pg
  user     = "agent_ro"
}
credential "slack_tokens" "slack" {}

profile "oncall-bot" {
  endpoints   = [https.openai]
  credentials = [bearer_token.github_pat, postgres_credential.pg_ro]
}

approver "human_approver" "ops" {
  slack_channel = "#agent-ops"
  credential    = slack_tokens.slack
  timeout       = 600
}

rule "pg-no-ddl" {
  endpoint  = postgres.pg
  priority  = 100
  condition = "sql.verbs.exists(v, v in ['drop','truncate','alter','grant','revoke','create'])"
  verdict   = "deny"
  reason    = "Schema changes land via migration PR, not via the agent"
}

rule "github-writes" {
  endpoint  = https.github
  condition = "http.method in ['post','put','patch','delete']"
  approve   = [human_approver.ops]
  mode      = "observe"
}
