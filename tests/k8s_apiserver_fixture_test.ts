/**
 * The fake API server (tests/_k8s_apiserver.ts) against the real kubectl, with no gateway in
 * between: proves the fixture speaks enough of the API (discovery, Table lists, get, create,
 * delete, logs, watch, exec over WebSocket, auth) that gateway tests can rely on it.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { stringify } from "yaml";
import { type FakeApiServer, startFakeApiServer } from "./_k8s_apiserver.ts";
import { mintTestCa, mintTestCertificate } from "./_test_ca.ts";

const kubectlInstalled = (() => {
  try {
    const version = ["version", "--client"];
    return new Deno.Command("kubectl", { args: version, stdout: "null" }).outputSync().success;
  } catch {
    return false; // not on PATH
  }
})();

interface Kubectl {
  code: number;
  stdout: string;
  stderr: string;
}

interface KubectlOptions {
  /** Bearer token in the kubeconfig. @default {the server's token} */
  token?: string;
  /** Extra kubeconfig user fields (e.g. a client certificate). */
  user?: Record<string, string>;
  stdin?: string;
  /** SIGKILL after this long. @default {20_000} */
  timeoutMs?: number;
}

/**
 * Runs kubectl against `api` with a kubeconfig of its own, in a clean environment: no
 * KUBECONFIG or proxy variables from the developer's shell, and HOME in `home` (one per server)
 * so kubectl's discovery cache never answers for another server.
 */
async function kubectl(
  api: FakeApiServer,
  home: string,
  args: string[],
  options: KubectlOptions = {},
): Promise<Kubectl> {
  const kubeconfig = await Deno.makeTempFile({ dir: home, prefix: "kubeconfig-" });
  await Deno.writeTextFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "fake",
        cluster: { server: api.url, "certificate-authority-data": btoa(api.caPem) },
      }],
      users: [{ name: "me", user: options.user ?? { token: options.token ?? api.token } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "me", namespace: "default" } }],
      "current-context": "fake",
    }),
  );
  const child = new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, ...args],
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: home },
    clearEnv: true,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
  }, options.timeoutMs ?? 20_000);
  try {
    if (options.stdin !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(options.stdin)).catch(() => {});
      await writer.close().catch(() => {});
    }
    const out = await child.output();
    const text = new TextDecoder();
    return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
  } finally {
    clearTimeout(timer);
  }
}

function includes(text: string, part: string): void {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

/** Runs `fn` with a fresh server and temp directory; tears both down. */
async function withApi(
  fn: (
    api: FakeApiServer,
    run: (args: string[], o?: KubectlOptions) => Promise<Kubectl>,
  ) => Promise<void>,
  options: { clientCaPem?: string } = {},
): Promise<void> {
  const api = await startFakeApiServer(options);
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_fake_k8s_" });
  try {
    await fn(api, (args, o) => kubectl(api, dir, args, o));
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}

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

Deno.test({
  name:
    "fake API server: HTTP/1.1 with h2 offered, Status bodies for 401/404, raw watch and log streams",
  fn: async () => {
    const api = await startFakeApiServer({ token: "t0ken" });
    const client = Deno.createHttpClient({ caCerts: [api.caPem] });
    const get = (path: string, token = "t0ken") =>
      fetch(`${api.url}${path}`, { client, headers: { authorization: `Bearer ${token}` } });
    try {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port: Number(new URL(api.url).port),
        caCerts: [api.caPem],
        alpnProtocols: ["h2", "http/1.1"],
      });
      assertEquals((await conn.handshake()).alpnProtocol, "http/1.1");
      conn.close();

      const denied = await get("/api/v1/pods", "wrong");
      assertEquals(denied.status, 401);
      assertEquals(denied.headers.get("content-type"), "application/json");
      assertEquals(await denied.json(), {
        kind: "Status",
        apiVersion: "v1",
        metadata: {},
        status: "Failure",
        message: "Unauthorized",
        reason: "Unauthorized",
        code: 401,
      });
      const missing = await get("/apis/batch/v1/jobs");
      assertEquals([missing.status, (await missing.json()).reason], [404, "NotFound"]);

      const t0 = Date.now();
      const watch = await get("/api/v1/namespaces/default/pods?watch=1");
      const events = (await watch.text()).trim().split("\n").map((l) => JSON.parse(l));
      assert(Date.now() - t0 >= 400, "the watch ended before its bounded time");
      assertEquals(
        events.map((e) => `${e.type} ${e.object.metadata.name}`),
        ["ADDED web-1", "ADDED web-2", "MODIFIED web-1", "MODIFIED web-2"],
      );

      const follow = await get("/api/v1/namespaces/default/pods/web-1/log?follow=true");
      assertEquals(follow.headers.get("content-type"), "text/plain");
      const chunks: number[] = [];
      for await (const _ of follow.body!) chunks.push(Date.now());
      assert(chunks.length >= 3 && chunks.at(-1)! - chunks[0] >= 150, "logs were not streamed");

      assertEquals(
        api.requests.map((r) => [r.method, r.path, r.query, r.authorization]),
        [
          ["GET", "/api/v1/pods", "", "Bearer wrong"],
          ["GET", "/apis/batch/v1/jobs", "", "Bearer t0ken"],
          ["GET", "/api/v1/namespaces/default/pods", "watch=1", "Bearer t0ken"],
          ["GET", "/api/v1/namespaces/default/pods/web-1/log", "follow=true", "Bearer t0ken"],
        ],
      );
    } finally {
      client.close();
      await api.close();
    }
  },
});

Deno.test({
  name:
    "fake API server: a wrong token gets Unauthorized; a client certificate from clientCaPem passes",
  ignore,
  fn: async () => {
    const clientCa = await mintTestCa("fake k8s client CA");
    const alice = await mintTestCertificate(clientCa, {
      usage: "client",
      commonName: "alice",
      hosts: [],
    });
    await withApi(async (api, run) => {
      const wrong = await run(["get", "pods"], { token: "not-the-token" });
      assert(wrong.code !== 0);
      // kubectl words any 401 during discovery this way, as it does against a real cluster.
      includes(wrong.stderr, "You must be logged in to the server");
      assert(
        api.requests.length > 0 &&
          api.requests.every((r) => r.authorization === "Bearer not-the-token"),
      );

      const cert = await run(["get", "pods"], {
        user: {
          "client-certificate-data": btoa(alice.certPem),
          "client-key-data": btoa(alice.keyPem),
        },
      });
      assertEquals(cert.code, 0, cert.stderr);
      includes(cert.stdout, "web-1");
      assertEquals(api.requests.at(-1)?.clientCommonName, "alice");
    }, { clientCaPem: clientCa.certPem });
  },
});
