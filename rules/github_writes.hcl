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
  condition = "http.method in ['get', 'head', 'options']"
  verdict   = "allow"
}

rule "github-writes" {
  endpoint  = https.github
  condition = "http.method in ['post', 'put', 'patch', 'delete']"
  approve   = [human_approver.ops]
  reason    = "GitHub writes need a human's approval"
}
