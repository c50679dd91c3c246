/**
 * The fake API server (tests/_k8s_apiserver.ts) against the real kubectl, with no gateway in
 * between: proves the fixture speaks enough of the API (discovery, Table lists, get, create,
 * delete, logs, watch, exec over WebSocket, auth) that gateway tests can rely on it.
 */

// kubectl reads, deletes, streams and exec.

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { includes, kubectlInstalled, withApi } from "./_k8s_apiserver_kubectl.ts";

const ignore = !kubectlInstalled;

Deno.test({
  name:
    "fake API server: kubectl get lists pods across namespaces as a table, gets YAML and secrets",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const all = await run(["get", "pods", "-A"]);
      assertEquals(all.code, 0, all.stderr);
      for (
        const part of ["NAMESPACE", "STATUS", "web-1", "api-1", "coredns-1", "prod", "Running"]
      ) {
        includes(all.stdout, part);
      }
      const yaml = await run(["get", "pod", "web-1", "-n", "default", "-o", "yaml"]);
      assertEquals(yaml.code, 0, yaml.stderr);
      includes(yaml.stdout, "name: web-1");
      includes(yaml.stdout, "namespace: default");
      const secrets = await run(["get", "secrets"]);
      assertEquals(secrets.code, 0, secrets.stderr);
      includes(secrets.stdout, "db-password");
      const deploy = await run(["get", "deploy", "-n", "prod"]);
      assertEquals(deploy.code, 0, deploy.stderr);
      includes(deploy.stdout, "api");

      const paths = api.requests.map((r) => `${r.method} ${r.path}`);
      for (
        const p of [
          "GET /api",
          "GET /apis",
          "GET /api/v1/pods",
          "GET /api/v1/namespaces/default/secrets",
        ]
      ) {
        assert(paths.includes(p), `no '${p}' in ${paths.join("\n")}`);
      }
      for (const r of api.requests) assertEquals(r.authorization, `Bearer ${api.token}`);
      const list = api.requests.find((r) => r.path === "/api/v1/pods")!;
      includes(list.headers.accept, "as=Table");
    }),
});

Deno.test({
  name: "fake API server: kubectl delete removes a pod and a namespace; get then says NotFound",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const del = await run(["delete", "pod", "p", "-n", "scratch"]);
      assertEquals(del.code, 0, del.stderr);
      includes(del.stdout, `pod "p" deleted`);
      const gone = await run(["get", "pod", "p", "-n", "scratch"]);
      assert(gone.code !== 0);
      includes(gone.stderr, `Error from server (NotFound): pods "p" not found`);

      const ns = await run(["delete", "ns", "prod"]);
      assertEquals(ns.code, 0, ns.stderr);
      includes(ns.stdout, `namespace "prod" deleted`);
      const pods = await run(["get", "pods", "-A"]);
      assert(!pods.stdout.includes("api-1"), "pods of a deleted namespace are still listed");

      assert(api.requests.some((r) =>
        r.method === "DELETE" && r.path === "/api/v1/namespaces/scratch/pods/p"
      ));
      assert(api.requests.some((r) =>
        r.method === "DELETE" && r.path === "/api/v1/namespaces/prod"
      ));
    }),
});

Deno.test({
  name: "fake API server: kubectl logs, logs -f and get -w stream and end by themselves",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const logs = await run(["logs", "web-1"]);
      assertEquals(logs.code, 0, logs.stderr);
      includes(logs.stdout, "web-1/web log line 1");

      const follow = await run(["logs", "-f", "web-1"]);
      assertEquals(follow.code, 0, follow.stderr);
      assertEquals(follow.stdout.trim().split("\n").length, 3, follow.stdout);

      const watch = await run(["get", "pods", "-w", "-n", "default", "--request-timeout=3s"]);
      // The stream ending (after its MODIFIED events) ends kubectl cleanly, before the timeout.
      assertEquals(watch.code, 0, watch.stderr);
      assertEquals(watch.stdout.split("\n").filter((l) => l.startsWith("web-1 ")).length, 2);
      includes(watch.stdout, "web-2");
      const watched = api.requests.find((r) =>
        new URLSearchParams(r.query).get("watch") === "true"
      );
      assert(watched, "kubectl sent no watch request");
      assertEquals(watched.path, "/api/v1/namespaces/default/pods");
      assert(
        api.requests.some((r) =>
          r.path.endsWith("/pods/web-1/log") && r.query.includes("follow=true")
        ),
      );
    }),
});

Deno.test({
  name: "fake API server: kubectl exec runs over a WebSocket channel protocol",
  ignore,
  fn: () =>
    withApi(async (api, run) => {
      const echo = await run(["exec", "web-1", "--", "echo", "hi"]);
      assertEquals(echo.code, 0, echo.stderr);
      assertEquals(echo.stdout, "hi\n");
      const exec = api.requests.find((r) =>
        r.path === "/api/v1/namespaces/default/pods/web-1/exec"
      )!;
      assertEquals(exec.headers.upgrade.toLowerCase(), "websocket");
      includes(exec.headers["sec-websocket-protocol"], "v5.channel.k8s.io");
      assertEquals(new URLSearchParams(exec.query).getAll("command"), ["echo", "hi"]);

      const failed = await run(["exec", "web-1", "--", "false"]);
      assertEquals(failed.code, 1, failed.stderr);

      const cat = await run(["exec", "-i", "web-1", "--", "cat"], { stdin: "from stdin\n" });
      assertEquals(cat.code, 0, cat.stderr);
      assertEquals(cat.stdout, "from stdin\n");

      const missing = await run(["exec", "nope", "--", "true"]);
      assert(missing.code !== 0);
      includes(missing.stderr, "NotFound");
    }),
});
