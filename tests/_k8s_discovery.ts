/**
 * Discovery for the fake API server: `/api`, `/apis`, `/apis/apps`, the two APIResourceLists
 * and `/version`. Legacy (unaggregated) documents only: kubectl 1.32 asks for aggregated
 * discovery (`Accept: …;as=APIGroupDiscoveryList`) first and falls back to these when the reply
 * is plain application/json.
 *
 * @module
 */

import { type KubeObject, RESOURCES } from "./_k8s_objects.ts";

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

// Subresources kubectl looks for in discovery (exec, logs, scale…); served by the API server.
const SUBRESOURCES: Record<string, KubeObject[]> = {
  "": [
    { name: "pods/log", kind: "Pod", verbs: ["get"] },
    { name: "pods/exec", kind: "PodExecOptions", verbs: ["create", "get"] },
    { name: "pods/attach", kind: "PodAttachOptions", verbs: ["create", "get"] },
    { name: "pods/portforward", kind: "PodPortForwardOptions", verbs: ["create", "get"] },
    { name: "pods/status", kind: "Pod", verbs: ["get", "patch", "update"] },
  ],
  apps: [
    {
      name: "deployments/scale",
      group: "autoscaling",
      version: "v1",
      kind: "Scale",
      verbs: ["get", "patch", "update"],
    },
  ],
};

/** The discovery document for `path`, or undefined. */
export function discovery(path: string, serverAddress: string): KubeObject | undefined {
  const apps = { groupVersion: "apps/v1", version: "v1" };
  switch (path) {
    case "/api":
      return {
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
      };
    case "/apis":
      return {
        kind: "APIGroupList",
        apiVersion: "v1",
        groups: [{ name: "apps", versions: [apps], preferredVersion: apps }],
      };
    case "/apis/apps":
      return {
        kind: "APIGroup",
        apiVersion: "v1",
        name: "apps",
        versions: [apps],
        preferredVersion: apps,
      };
    case "/api/v1":
      return resourceList("");
    case "/apis/apps/v1":
      return resourceList("apps");
    case "/version":
      return {
        major: "1",
        minor: "32",
        gitVersion: "v1.32.0-clawpatrol-fake",
        gitCommit: "0000000000000000000000000000000000000000",
        gitTreeState: "clean",
        buildDate: "2025-01-01T00:00:00Z",
        goVersion: "go1.23.0",
        compiler: "gc",
        platform: "linux/amd64",
      };
  }
  return undefined;
}

function resourceList(group: string): KubeObject {
  const resources = RESOURCES.filter((r) => r.group === group).map((r) => ({
    name: r.resource,
    singularName: r.kind.toLowerCase(),
    namespaced: r.namespaced,
    kind: r.kind,
    verbs: r.resource === "namespaces" ? VERBS.filter((v) => v !== "deletecollection") : VERBS,
    shortNames: r.shortNames,
    // `kubectl get all` expands the "all" category from discovery.
    ...(["pods", "services", "deployments"].includes(r.resource) ? { categories: ["all"] } : {}),
  }));
  const subresources = SUBRESOURCES[group].map((s) => ({
    singularName: "",
    namespaced: true,
    ...s,
  }));
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: group ? `${group}/v1` : "v1",
    resources: [...resources, ...subresources],
  };
}
