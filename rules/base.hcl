# Endpoints and approvers the starter packs refer to. `clawpatrol -c rules test tests/rules/*.yaml`
# loads this directory as one config, so every pack is tested against the same names that
# `clawpatrol init` writes into gateway.hcl.
schema_version = 1

endpoint "https" "github" {
  hosts = ["api.github.com", "uploads.github.com"]
}

endpoint "https" "anthropic" {
  hosts = ["api.anthropic.com"]
}

endpoint "https" "openai" {
  hosts = ["api.openai.com"]
}

endpoint "postgres" "db" {
  host   = "127.0.0.1:5432"
  listen = "127.0.0.1:15432"
}

endpoint "kubernetes" "cluster" {
  server = "https://127.0.0.1:6443"
  listen = "127.0.0.1:16443"
}

endpoint "aws" "account" {
  hosts = ["*.amazonaws.com"]
}

# Without Slack configured, requests held for this approver wait in the CLI queue.
approver "human_approver" "ops" {
  timeout = "10m"
}
