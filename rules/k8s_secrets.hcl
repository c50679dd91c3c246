# Kubernetes secrets are never read or changed by agents, whatever the verb.

rule "k8s-no-secrets" {
  endpoint  = kubernetes.cluster
  priority  = 200
  condition = "k8s.resource == 'secrets'"
  verdict   = "deny"
  reason    = "Secrets are not readable by agents"
}
