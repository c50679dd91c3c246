# Kubernetes workloads: reads flow; deletes in protected namespaces and namespace deletion are
# denied; exec and port-forward wait for a human; other writes need approval too.

rule "k8s-protected-deletes" {
  endpoint  = kubernetes.cluster
  priority  = 100
  condition = "k8s.verb in ['delete', 'deletecollection'] && (k8s.resource == 'namespaces' || k8s.namespace in ['prod', 'production', 'kube-system'])"
  verdict   = "deny"
  reason    = "Deleting namespaces or anything in protected namespaces is not allowed"
}

rule "k8s-reads" {
  endpoint  = kubernetes.cluster
  priority  = 10
  condition = "k8s.verb in ['get', 'list', 'watch', 'log'] || !k8s.is_resource_request"
  verdict   = "allow"
}

rule "k8s-interactive" {
  endpoint  = kubernetes.cluster
  priority  = 50
  condition = "k8s.verb in ['exec', 'attach', 'portforward', 'proxy']"
  approve   = [human_approver.ops]
  reason    = "Interactive access to workloads needs a human's approval"
}

rule "k8s-writes" {
  endpoint  = kubernetes.cluster
  condition = "k8s.verb in ['create', 'update', 'patch', 'delete', 'deletecollection']"
  approve   = [human_approver.ops]
  reason    = "Changes to the cluster need a human's approval"
}
