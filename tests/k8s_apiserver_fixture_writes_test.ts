/**
 * The fake API server (tests/_k8s_apiserver.ts) against the real kubectl, with no gateway in
 * between: proves the fixture speaks enough of the API (discovery, Table lists, get, create,
 * delete, logs, watch, exec over WebSocket, auth) that gateway tests can rely on it.
 */

// kubectl apply and create: JSON and protobuf bodies stored and recorded.

import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { includes, kubectlInstalled, withApi } from "./_k8s_apiserver_kubectl.ts";

const ignore = !kubectlInstalled;

const POD = `apiVersion: v1
kind: Pod
metadata:
  name: created
  namespace: scratch
spec:
  containers:
  - name: c
    image: busybox
`;

Deno.test({
  name: "fake API server: kubectl apply -f creates a pod and records its body",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const apply = await run(["apply", "-f", "-", "--validate=false"], { stdin: POD });
      assertEquals(apply.code, 0, apply.stderr);
      includes(apply.stdout, "pod/created created");
      const post = api.requests.find((r) => r.method === "POST")!;
      assertEquals(post.path, "/api/v1/namespaces/scratch/pods");
      assertEquals(JSON.parse(post.body).spec.containers[0].image, "busybox");
      const get = await run([
        "get",
        "pod",
        "created",
        "-n",
        "scratch",
        "-o",
        "jsonpath={.spec.containers[0].image}",
      ]);
      assertEquals(get.stdout, "busybox");
      // Without --validate=false kubectl wants /openapi/v3, which the fake does not serve.
      const validated = await run(["apply", "-f", "-"], { stdin: POD });
      includes(validated.stderr, "failed to download openapi");
      const again = await run(["apply", "-f", "-", "--validate=false"], {
        stdin: POD.replace("busybox", "alpine"),
      });
      assertEquals(again.code, 0, again.stderr);
      includes(again.stdout, "pod/created configured");
      const patch = api.requests.find((r) => r.method === "PATCH")!;
      assertEquals(patch.headers["content-type"], "application/strategic-merge-patch+json");
    }),
});

Deno.test({
  name: "fake API server: kubectl create namespace/secret (protobuf bodies) store the objects",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const ns = await run(["create", "namespace", "team-a"]);
      assertEquals(ns.code, 0, ns.stderr);
      const secret = await run([
        "create",
        "secret",
        "generic",
        "tok",
        "-n",
        "team-a",
        "--from-literal=k=v",
      ]);
      assertEquals(secret.code, 0, secret.stderr);
      const posts = api.requests.filter((r) => r.method === "POST");
      assertEquals(posts.map((r) => r.path), [
        "/api/v1/namespaces",
        "/api/v1/namespaces/team-a/secrets",
      ]);
      // Not JSON: a body rule in front of this server sees protobuf for these commands.
      for (const r of posts) {
        assertEquals(r.headers["content-type"], "application/vnd.kubernetes.protobuf");
      }
      const get = await run([
        "get",
        "secret",
        "tok",
        "-n",
        "team-a",
        "-o",
        "jsonpath={.type} {.data.k}",
      ]);
      assertEquals(get.stdout, `Opaque ${btoa("v")}`);
    }),
});
