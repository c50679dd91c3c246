# GitHub API: reads flow, writes wait for a human, destructive calls never happen.

rule "github-destructive" {
  endpoint  = https.github
  priority  = 100
  # Deleting a repository, or rewriting branch protection, is never an agent's call.
  condition = "(http.method == 'delete' && http.path.matches('^/repos/[^/]+/[^/]+/?$')) || (http.method in ['put', 'delete'] && http.path.matches('^/repos/[^/]+/[^/]+/branches/[^/]+/protection'))"
  verdict   = "deny"
  reason    = "Deleting repositories or changing branch protection is not allowed for agents"
}

rule "github-reads" {
  endpoint  = https.github
  priority  = 10
  # GraphQL is decided by its operations, whatever the method (the next rules).
  condition = "http.method in ['get', 'head', 'options'] && http.path != '/graphql'"
  verdict   = "allow"
}

# `gh pr list`, `gh repo view` and friends read through GraphQL, a POST (or a GET). Every
# operation in the document must be a query: a mutation beside a query still waits for a human.
# GraphQL the gateway cannot read (unparseable, truncated, several operations and no
# operationName) leaves `http.graphql` unknown, so this rule denies it rather than guessing.
# A subscription is a standing stream, not a read and not a write a human could judge: denied.
rule "github-graphql-reads" {
  endpoint  = https.github
  priority  = 10
  condition = "http.method in ['get', 'post'] && http.path == '/graphql' && size(http.graphql.operation_types) > 0 && http.graphql.operation_types.all(t, t == 'query')"
  verdict   = "allow"
}

rule "github-graphql-subscriptions" {
  endpoint  = https.github
  priority  = 10
  condition = "http.path == '/graphql' && 'subscription' in http.graphql.operation_types"
  verdict   = "deny"
  reason    = "GraphQL subscriptions are not allowed for agents"
}

rule "github-writes" {
  endpoint  = https.github
  condition = "http.method in ['post', 'put', 'patch', 'delete']"
  approve   = [human_approver.ops]
  reason    = "GitHub writes need a human's approval"
}
