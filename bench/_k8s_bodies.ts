/**
 * The Kubernetes bench's canned API responses: a PodList, a Pod, a DeploymentList and the core
 * group's discovery document, shaped like what a 1.32 API server returns to `kubectl get -o json`
 * (managed fields, owner references, probes, resources, status conditions), so each response is
 * the size a real one is: 2.5–5 KB for the objects, ~130 bytes for `/api`.
 *
 * @module
 */

/** A Kubernetes object as JSON. */
type KubeObject = Record<string, unknown>;

const CREATED = "2025-05-12T09:14:07Z";
const HASH = "7d9c6b5f8d";

function managedFields(manager: string, operation: string): KubeObject[] {
  return [{
    manager,
    operation,
    apiVersion: "v1",
    time: CREATED,
    fieldsType: "FieldsV1",
    fieldsV1: {
      "f:metadata": { "f:labels": { ".": {}, "f:app": {}, "f:pod-template-hash": {} } },
      "f:spec": { "f:containers": { 'k:{"name":"web"}': { ".": {}, "f:image": {} } } },
    },
  }];
}

/** A pod of deployment `web`, as the API server stores it. */
export function pod(name: string, index: number): KubeObject {
  const ip = `10.244.1.${20 + index}`;
  return {
    kind: "Pod",
    apiVersion: "v1",
    metadata: {
      name,
      generateName: `web-${HASH}-`,
      namespace: "default",
      uid: `6f1c2a7e-4b1d-4e8a-9c3f-0a5b6c7d8e${(10 + index).toString(16)}`,
      resourceVersion: String(418_200 + index),
      creationTimestamp: CREATED,
      labels: { app: "web", "pod-template-hash": HASH },
      ownerReferences: [{
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        name: `web-${HASH}`,
        uid: "0d3e1f2a-5b6c-4d7e-8f90-a1b2c3d4e5f6",
        controller: true,
        blockOwnerDeletion: true,
      }],
      managedFields: managedFields("kube-controller-manager", "Update"),
    },
    spec: {
      containers: [{
        name: "web",
        image: "registry.example.com/shop/web:1.42.3",
        ports: [{ name: "http", containerPort: 8080, protocol: "TCP" }],
        resources: {
          limits: { cpu: "500m", memory: "256Mi" },
          requests: { cpu: "100m", memory: "128Mi" },
        },
        readinessProbe: {
          httpGet: { path: "/healthz", port: 8080, scheme: "HTTP" },
          periodSeconds: 10,
          timeoutSeconds: 1,
          successThreshold: 1,
          failureThreshold: 3,
        },
        volumeMounts: [{
          name: "kube-api-access-x7k2p",
          readOnly: true,
          mountPath: "/var/run/secrets/kubernetes.io/serviceaccount",
        }],
        terminationMessagePath: "/dev/termination-log",
        terminationMessagePolicy: "File",
        imagePullPolicy: "IfNotPresent",
      }],
      restartPolicy: "Always",
      terminationGracePeriodSeconds: 30,
      dnsPolicy: "ClusterFirst",
      serviceAccountName: "default",
      nodeName: "worker-2",
      securityContext: { runAsNonRoot: true },
      schedulerName: "default-scheduler",
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: "PreemptLowerPriority",
    },
    status: {
      phase: "Running",
      conditions: ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady"]
        .map((type) => ({ type, status: "True", lastTransitionTime: CREATED })),
      hostIP: "172.18.0.3",
      podIP: ip,
      podIPs: [{ ip }],
      startTime: CREATED,
      containerStatuses: [{
        name: "web",
        state: { running: { startedAt: CREATED } },
        ready: true,
        restartCount: 0,
        image: "registry.example.com/shop/web:1.42.3",
        imageID: "registry.example.com/shop/web@sha256:9b2f4c1e7d3a",
        containerID: `containerd://4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b${index}`,
        started: true,
      }],
      qosClass: "Burstable",
    },
  };
}

/** A deployment, as the API server stores it. */
export function deployment(name: string, replicas: number): KubeObject {
  return {
    kind: "Deployment",
    apiVersion: "apps/v1",
    metadata: {
      name,
      namespace: "default",
      uid: `a1b2c3d4-e5f6-4a7b-8c9d-${name.padEnd(12, "0").slice(0, 12)}`,
      resourceVersion: "418177",
      generation: 3,
      creationTimestamp: CREATED,
      labels: { app: name },
      annotations: { "deployment.kubernetes.io/revision": "3" },
      managedFields: managedFields("kubectl-client-side-apply", "Update"),
    },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [{
            name,
            image: `registry.example.com/shop/${name}:1.42.3`,
            ports: [{ containerPort: 8080, protocol: "TCP" }],
            resources: { requests: { cpu: "100m", memory: "128Mi" } },
          }],
          restartPolicy: "Always",
        },
      },
      strategy: {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" },
      },
      revisionHistoryLimit: 10,
      progressDeadlineSeconds: 600,
    },
    status: {
      observedGeneration: 3,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: replicas,
      availableReplicas: replicas,
      conditions: [
        { type: "Available", status: "True", reason: "MinimumReplicasAvailable" },
        { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" },
      ].map((c) => ({ ...c, lastUpdateTime: CREATED, lastTransitionTime: CREATED })),
    },
  };
}

function list(kind: string, apiVersion: string, items: KubeObject[]): KubeObject {
  return { kind, apiVersion, metadata: { resourceVersion: "418230" }, items };
}

/** Response bodies by request path (the query is ignored, as `limit=500` changes nothing here). */
export function cannedBodies(serverAddress: string): Map<string, string> {
  const pods = [pod("web-1", 1), pod("web-2", 2)];
  return new Map([
    ["/api/v1/namespaces/default/pods", JSON.stringify(list("PodList", "v1", pods))],
    ["/api/v1/namespaces/default/pods/web-1", JSON.stringify(pods[0])],
    [
      "/apis/apps/v1/namespaces/default/deployments",
      JSON.stringify(
        list("DeploymentList", "apps/v1", [deployment("web", 2), deployment("worker", 1)]),
      ),
    ],
    [
      "/api",
      JSON.stringify({
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
      }),
    ],
  ]);
}
