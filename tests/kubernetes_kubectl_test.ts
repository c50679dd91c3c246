/**
 * The real kubectl through the gateway's Kubernetes listener (and the forward proxy), against
 * the fake API server: reads work, secrets and protected deletes never reach the cluster, the
 * agent's token never leaves the gateway, and every request has a receipt.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { kubectlAvailable, runKubectl, withK8sGateway } from "./_k8s_fixture.ts";
import { eventually } from "./_helpers.ts";

const ignore = !kubectlAvailable;

function includes(text: string, part: string): void {
  assert(text.includes(part), `expected ${JSON.stringify(part)} in:\n${text}`);
}

Deno.test({
  name: "kubectl through the gateway: reads pass with the cluster's token, denials never reach it",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const pods = await fx.kubectl(["get", "pods", "-A"]);
      assertEquals(pods.code, 0, pods.stderr);
      includes(pods.stdout, "web-1");
      includes(pods.stdout, "api-1");

      const yaml = await fx.kubectl(["get", "pod", "web-1", "-n", "default", "-o", "yaml"]);
      assertEquals(yaml.code, 0, yaml.stderr);
      includes(yaml.stdout, "name: web-1");

      const secrets = await fx.kubectl(["get", "secrets"]);
      assert(secrets.code !== 0);
      includes(secrets.stderr, "Error from server (Forbidden)");
      includes(secrets.stderr, "denied by clawpatrol: Secrets are not readable by agents");
      includes(secrets.stderr, "rule k8s-no-secrets");

      const ns = await fx.kubectl(["delete", "namespace", "prod"]);
      assert(ns.code !== 0);
      includes(ns.stderr, "Error from server (Forbidden)");
      includes(ns.stderr, "Deleting namespaces");

      const inProd = await fx.kubectl(["delete", "pod", "api-1", "-n", "prod"]);
      assert(inProd.code !== 0);
      includes(inProd.stderr, "Forbidden");

      const scratch = await fx.kubectl(["delete", "pod", "p", "-n", "scratch", "--wait=false"]);
      assertEquals(scratch.code, 0, scratch.stderr);
      const gone = await fx.kubectl(["get", "pod", "p", "-n", "scratch"]);
      includes(gone.stderr, "NotFound");

      // What reached the cluster: the gateway's token, never the agent's; no secrets, no
      // namespace deletion.
      const seen = fx.api.requests;
      assert(seen.length > 0);
      for (const r of seen) assertEquals(r.authorization, `Bearer ${fx.api.token}`);
      assert(!seen.some((r) => r.path.includes("/secrets")), "a secrets request reached it");
      assert(!seen.some((r) => r.method === "DELETE" && r.path.includes("/namespaces/prod")));
      assert(
        seen.some((r) => r.method === "DELETE" && r.path.endsWith("/namespaces/scratch/pods/p")),
      );

      const receipts = await fx.receipts();
      const denied = receipts.find((r) => r.rule === "k8s-no-secrets");
      assert(denied, "no receipt for the secrets denial");
      assertEquals([denied.protocol, denied.verdict, denied.agent], ["kubernetes", "deny", "bot"]);
      includes(denied.summary, "list secrets");
      assert(receipts.some((r) => r.verdict === "allow" && r.summary.startsWith("list pods")));
      const all = JSON.stringify(receipts);
      assert(!all.includes(fx.token), "the agent token reached a receipt");
      assert(!all.includes(fx.api.token), "the cluster token reached a receipt");
    }),
});

Deno.test({
  name: "kubectl logs, logs -f and get -w stream through the gateway",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const logs = await fx.kubectl(["logs", "web-1", "-n", "default"]);
      assertEquals(logs.code, 0, logs.stderr);
      assert(logs.stdout.trim().length > 0);

      const follow = await fx.kubectl(["logs", "-f", "web-1", "-n", "default"]);
      assertEquals(follow.code, 0, follow.stderr);
      assert(follow.stdout.trim().split("\n").length >= 3, follow.stdout);

      const watch = await fx.kubectl(
        ["get", "pods", "-n", "default", "-w", "--request-timeout=5s"],
        { timeoutMs: 15_000 },
      );
      includes(watch.stdout, "web-1");
      const receipts = await fx.receipts();
      assert(receipts.some((r) => r.summary.startsWith("watch pods")), "no watch receipt");
      assert(receipts.some((r) => r.summary.startsWith("log pods/log web-1")));
    }),
});

Deno.test({
  name: "kubectl exec is decided at the upgrade: relayed in default, denied in prod",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const ok = await fx.kubectl(["exec", "web-1", "-n", "default", "--", "echo", "hi"]);
      assertEquals(ok.code, 0, ok.stderr);
      includes(ok.stdout, "hi");

      const denied = await fx.kubectl(["exec", "api-1", "-n", "prod", "--", "cat", "/etc/passwd"]);
      assert(denied.code !== 0);
      includes(denied.stderr, "Interactive access only in the default namespace");
      assert(!fx.api.requests.some((r) => r.path.includes("/prod/pods/api-1/exec")));

      const receipts = await fx.receipts();
      const exec = receipts.find((r) => r.rule === "k8s-exec-outside-default");
      assert(exec);
      includes(exec.summary, "exec pods/exec api-1 -n prod -- cat /etc/passwd");
    }),
});

const POD = (name: string, privileged: boolean) =>
  JSON.stringify({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "scratch" },
    spec: {
      containers: [{
        name: "c",
        image: "busybox",
        ...(privileged ? { securityContext: { privileged: true } } : {}),
      }],
    },
  });

Deno.test({
  name: "kubectl apply of a privileged pod is denied by a body rule; a plain pod is created",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const bad = await fx.kubectl(["apply", "-f", "-", "--validate=false"], {
        stdin: POD("root", true),
      });
      assert(bad.code !== 0);
      includes(bad.stderr, "Privileged pods are not allowed");
      assert(!fx.api.requests.some((r) => r.method === "POST" && r.path.endsWith("/pods")));

      // kubectl create deployment sends the object as protobuf: a body the gateway cannot read
      // fails the rule that reads it, closed; a plain `kubectl run` pod (JSON) passes it.
      const opaque = await fx.kubectl([
        "create",
        "deployment",
        "opaque",
        "-n",
        "scratch",
        "--image=busybox",
      ]);
      assert(opaque.code !== 0);
      includes(opaque.stderr, "denied by clawpatrol: policy could not evaluate this request");
      assert(!fx.api.requests.some((r) => r.method === "POST" && r.path.endsWith("/deployments")));
      const receipt = (await fx.receipts()).find((r) =>
        r.summary.startsWith("create deployments.apps -n scratch")
      );
      assertEquals([receipt?.verdict, receipt?.rule], ["deny", "k8s-no-privileged"]);
      const run = await fx.kubectl(["run", "plain-run", "-n", "scratch", "--image=busybox"]);
      assertEquals(run.code, 0, run.stderr);

      const good = await fx.kubectl(["apply", "-f", "-", "--validate=false"], {
        stdin: POD("plain", false),
      });
      assertEquals(good.code, 0, good.stderr);
      assert(fx.api.requests.some((r) => r.method === "POST" && r.path.endsWith("/scratch/pods")));
    }),
});

Deno.test({
  name: "kubectl with a wrong token, an unreachable or untrusted API server gets clean errors",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const wrong = await fx.kubectl(["get", "pods"], { token: "cpat_not-a-real-token" });
      assert(wrong.code !== 0);
      includes(wrong.stderr, "You must be logged in to the server");
      assertEquals(fx.api.requests.length, 0);

      // The cluster's own token is no agent token either.
      const cluster = await fx.kubectl(["get", "pods"], { token: fx.api.token });
      includes(cluster.stderr, "You must be logged in to the server");

      const down = await fx.kubectl(["get", "pods"], { endpoint: "down" });
      assert(down.code !== 0);
      includes(down.stderr, "cannot connect to upstream");

      const untrusted = await fx.kubectl(["get", "pods"], { endpoint: "wrongca" });
      assert(untrusted.code !== 0);
      includes(untrusted.stderr, "certificate not trusted");

      const receipts = await fx.receipts();
      const unauth = receipts.filter((r) => r.reason.includes("agent token is required"));
      assert(unauth.length >= 2, "no receipt for the unauthenticated requests");
      assert(receipts.some((r) => r.endpoint === "down" && r.upstreamStatus === 502));
      const all = JSON.stringify(receipts) + fx.log.messages().join("\n");
      assert(!all.includes(fx.api.token), "the cluster token leaked");
    }),
});

Deno.test({
  name: "kubectl verifies the listener's certificate when its server is https://localhost:PORT",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      // The listener is 127.0.0.1; kubectl checks the leaf against the name in `server`.
      const server = fx.url().replace("//127.0.0.1:", "//localhost:");
      const pods = await fx.kubectl(["get", "pods", "-n", "default"], {
        cluster: { server, "certificate-authority-data": btoa(fx.caPem) },
      });
      assertEquals(pods.code, 0, pods.stderr);
      includes(pods.stdout, "web-1");
    }),
});

Deno.test({
  name: "kubectl through the forward proxy by the API server's host is decided the same way",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const proxy = fx.gateway.proxyAddress;
      const cluster = {
        server: fx.api.url,
        "certificate-authority-data": btoa(fx.caPem),
        "proxy-url": `http://bot:${fx.token}@${proxy.hostname}:${proxy.port}`,
      };
      const pods = await runKubectl(fx.dir, ["get", "pods", "-n", "default"], {
        cluster,
        token: "placeholder-not-sent",
      });
      assertEquals(pods.code, 0, pods.stderr);
      includes(pods.stdout, "web-1");
      const secrets = await runKubectl(fx.dir, ["get", "secrets"], {
        cluster,
        token: "placeholder-not-sent",
      });
      includes(secrets.stderr, "Error from server (Forbidden)");
      for (const r of fx.api.requests) assertEquals(r.authorization, `Bearer ${fx.api.token}`);
    }),
});

Deno.test({
  name: "kubectl exec held for approval runs once the operator approves",
  ignore,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: () =>
    withK8sGateway(async (fx) => {
      const run = fx.kubectl(["exec", "web-1", "-n", "default", "--", "echo", "approved"]);
      const pending = await eventually("the exec in the approval queue", () => {
        const list = fx.gateway.approvalQueue.list();
        return list.length === 1 ? list[0] : undefined;
      });
      assertEquals(pending.request.protocol, "kubernetes");
      includes(pending.request.summary, "exec pods/exec web-1 -n default -- echo approved");
      assert(!fx.api.requests.some((r) => r.path.endsWith("/exec")), "exec reached the cluster");
      fx.gateway.approvalQueue.decide(pending.request.id, "allow", "cli:ops");
      const result = await run;
      assertEquals(result.code, 0, result.stderr);
      includes(result.stdout, "approved");
      const receipt = (await fx.receipts()).find((r) => r.rule === "k8s-exec-needs-approval")!;
      assertEquals([receipt.verdict, receipt.approvals[0]?.who], ["allow", "cli:ops"]);
    }, {
      rules: `
approver "human_approver" "ops" {
  timeout = "30s"
}
rule "k8s-exec-needs-approval" {
  endpoint  = kubernetes.cluster
  priority  = 300
  condition = "k8s.verb == 'exec' && k8s.namespace == 'default'"
  approve   = [human_approver.ops]
}`,
    }),
});
