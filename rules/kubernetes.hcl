# Kubernetes: reads flow; secrets are never read or changed; namespaces, and anything in a
# protected namespace, are never deleted; privileged pods never start; exec, attach, port-forward
# and proxy wait for a human, and so does every other change. `k8s.verb` is lowercase and follows
# the apiserver's RequestInfo (list, watch and deletecollection included), so these rules see a
# request the way the cluster's own RBAC does. Fixtures: tests/rules/kubernetes.yaml.

rule "k8s-no-secrets" {
  endpoint  = kubernetes.cluster
  priority  = 200
  # Any verb and any subresource, `list` and `watch` (and `/watch/` paths) included: a list
  # returns every secret's data. A service account token minted on demand is a secret too.
  condition = "k8s.resource == 'secrets' || (k8s.resource == 'serviceaccounts' && k8s.subresource == 'token')"
  verdict   = "deny"
  reason    = "Secrets are not readable by agents"
}

rule "k8s-no-privileged-pods" {
  endpoint  = kubernetes.cluster
  priority  = 150
  # The pod spec of a pod, of a workload's pod template, or of a cronjob's job template: no
  # privileged container (ephemeral ones from `kubectl debug` included) and none of the host's
  # PID, IPC or network namespaces. Every step is guarded, so a body without those fields (a label
  # patch, a scale) passes on to the rules below. A JSON patch (a list of operations) is denied
  # when an operation's path ends in one of those fields or its value is a whole object or list,
  # which could hold one. A body that is neither a JSON (or server-side-apply YAML) object nor a
  # JSON patch (absent, protobuf, cut off at the body limit) cannot be checked: denied.
  condition = <<-CEL
    k8s.verb in ['create', 'update', 'patch'] &&
    k8s.resource in ['pods', 'deployments', 'replicasets', 'statefulsets', 'daemonsets', 'jobs',
      'cronjobs', 'replicationcontrollers'] &&
    cel.bind(b, http.body_json,
      type(b) == list
        ? b.exists(op, type(op) != map || !('path' in op) || type(op.path) != string ||
            op.path.matches('/(privileged|hostPID|hostIPC|hostNetwork)$') ||
            ('value' in op && type(op.value) in [map, list]))
        : type(b) != map || cel.bind(p,
            k8s.resource == 'pods'
              ? (has(b.spec) ? b.spec : {})
              : k8s.resource == 'cronjobs'
                ? (has(b.spec) && has(b.spec.jobTemplate) && has(b.spec.jobTemplate.spec) &&
                    has(b.spec.jobTemplate.spec.template) &&
                    has(b.spec.jobTemplate.spec.template.spec)
                  ? b.spec.jobTemplate.spec.template.spec : {})
                : (has(b.spec) && has(b.spec.template) && has(b.spec.template.spec)
                  ? b.spec.template.spec : {}),
            ['hostPID', 'hostIPC', 'hostNetwork'].exists(f, f in p && p[f] == true) ||
            ['containers', 'initContainers', 'ephemeralContainers'].exists(k, k in p &&
              p[k].exists(c, 'securityContext' in c && 'privileged' in c.securityContext &&
                c.securityContext.privileged == true))))
  CEL
  verdict   = "deny"
  reason    = "Privileged pods and pods sharing the host's namespaces are not allowed"
}

rule "k8s-protected-deletes" {
  endpoint  = kubernetes.cluster
  priority  = 100
  condition = "k8s.verb in ['delete', 'deletecollection'] && (k8s.resource == 'namespaces' || k8s.namespace in ['prod', 'production', 'kube-system'])"
  verdict   = "deny"
  reason    = "Deleting namespaces or anything in protected namespaces is not allowed"
}

rule "k8s-interactive" {
  endpoint  = kubernetes.cluster
  priority  = 50
  condition = "k8s.verb in ['exec', 'attach', 'portforward', 'proxy']"
  approve   = [human_approver.ops]
  reason    = "Interactive access to workloads needs a human's approval"
}

rule "k8s-reads" {
  endpoint  = kubernetes.cluster
  priority  = 10
  # Outside the API's resources (`/version`, `/apis`, `/openapi/v2`) the verb is the lowercase
  # method: only GET and HEAD count as reads. `kubectl auth can-i` and `kubectl auth whoami`
  # "create" a review that only answers questions about the caller itself.
  condition = <<-CEL
    k8s.verb in ['get', 'head', 'list', 'watch', 'log'] ||
    (k8s.verb == 'create' && k8s.subresource == '' &&
      k8s.api_group in ['authorization.k8s.io', 'authentication.k8s.io'] &&
      k8s.resource in ['selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'selfsubjectreviews'])
  CEL
  verdict   = "allow"
}

rule "k8s-writes" {
  endpoint  = kubernetes.cluster
  condition = "k8s.verb in ['create', 'update', 'patch', 'delete', 'deletecollection']"
  approve   = [human_approver.ops]
  reason    = "Changes to the cluster need a human's approval"
}
