/**
 * A gateway with Kubernetes endpoints in front of the fake API server (tests/_k8s_apiserver.ts),
 * agent `bot` enrolled, and a kubectl runner whose kubeconfig points at the gateway.
 *
 * Endpoints:
 * - `cluster`: the fake API server, its token held by credential `k8s_token`. Policy: secrets
 *   denied, deletes of namespaces and in prod/kube-system denied, privileged pods and
 *   deployments denied (and those whose body the gateway cannot read), exec
 *   outside `default` denied, everything else allowed.
 * - `down`: nothing listens upstream. `wrongca`: the fake server, but verified against the
 *   system roots (which do not include its CA).
 *
 * @module
 */

import "reflect-metadata";
import { join } from "node:path";
import { stringify } from "yaml";
import type { AgentRegistry } from "../src/agents/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import type { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";
import {
  type FakeApiServer,
  type FakeApiServerOptions,
  startFakeApiServer,
} from "./_k8s_apiserver.ts";
import { closedPort } from "./_helpers.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";

/** Whether the real kubectl is installed (the kubectl tests are skipped otherwise). */
export const kubectlAvailable = (() => {
  try {
    return new Deno.Command("kubectl", { args: ["version", "--client"], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

const RULES = `
rule "k8s-no-secrets" {
  endpoint  = kubernetes.cluster
  priority  = 200
  condition = "k8s.resource == 'secrets'"
  verdict   = "deny"
  reason    = "Secrets are not readable by agents"
}
rule "k8s-no-privileged" {
  endpoint  = kubernetes.cluster
  priority  = 150
  condition = "k8s.verb in ['create', 'update', 'patch'] && k8s.resource in ['pods', 'deployments'] && (k8s.resource == 'pods' ? http.body_json.spec : http.body_json.spec.template.spec).containers.exists(c, 'securityContext' in c && 'privileged' in c.securityContext && c.securityContext.privileged == true)"
  verdict   = "deny"
  reason    = "Privileged pods are not allowed"
}
rule "k8s-exec-outside-default" {
  endpoint  = kubernetes.cluster
  priority  = 120
  condition = "k8s.verb in ['exec', 'attach', 'portforward'] && k8s.namespace != 'default'"
  verdict   = "deny"
  reason    = "Interactive access only in the default namespace"
}
rule "k8s-protected-deletes" {
  endpoint  = kubernetes.cluster
  priority  = 100
  condition = "k8s.verb in ['delete', 'deletecollection'] && (k8s.resource == 'namespaces' || k8s.namespace in ['prod', 'kube-system'])"
  verdict   = "deny"
  reason    = "Deleting namespaces or anything in protected namespaces is not allowed"
}
rule "k8s-rest" {
  endpoints = [kubernetes.cluster, kubernetes.down, kubernetes.wrongca]
  condition = "true"
  verdict   = "allow"
}
`;

/** What a test gets. */
export interface K8sFixture {
  api: FakeApiServer;
  dir: string;
  gateway: Gateway;
  log: MemoryLogger;
  /** The agent's clawpatrol token (what its kubeconfig carries). */
  token: string;
  registry: AgentRegistry;
  /** The gateway's listener URL for an endpoint. */
  url(endpoint?: string): string;
  /** The gateway CA (PEM), which kubeconfigs trust. */
  caPem: string;
  /** Runs kubectl against `endpoint` through the gateway with the agent's (or `token`) token. */
  kubectl(args: string[], options?: KubectlOptions): Promise<KubectlResult>;
  receipts(): Promise<Receipt[]>;
}

/** Options for {@linkcode K8sFixture.kubectl}. */
export interface KubectlOptions {
  endpoint?: string;
  token?: string;
  /** A kubeconfig cluster entry to use instead (e.g. through the forward proxy). */
  cluster?: Record<string, unknown>;
  stdin?: string;
  timeoutMs?: number;
}

/** kubectl's exit code and output. */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `fn` against a fresh gateway in front of a fresh fake API server; tears both down. */
export async function withK8sGateway(
  fn: (fx: K8sFixture) => Promise<void>,
  options: { limits?: string; rules?: string; api?: FakeApiServerOptions } = {},
): Promise<void> {
  const api = await startFakeApiServer(options.api);
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_k8s_" });
  try {
    await Deno.writeTextFile(join(dir, "apiserver-ca.pem"), api.caPem);
    const { gateway, log, registry, token } = await startTestGateway(
      dir,
      `${gatewayHeader(options.limits)}endpoint "kubernetes" "cluster" {
  server  = "${api.url}"
  listen  = "127.0.0.1:0"
  ca_cert = "<<file:apiserver-ca.pem>>"
}
endpoint "kubernetes" "down" {
  server  = "https://127.0.0.1:${closedPort()}"
  listen  = "127.0.0.1:0"
  ca_cert = "<<file:apiserver-ca.pem>>"
}
endpoint "kubernetes" "wrongca" {
  server = "${api.url.replace("127.0.0.1", "localhost")}"
  listen = "127.0.0.1:0"
}
credential "k8s_bearer_token" "k8s_token" {
  endpoint = kubernetes.cluster
}
profile "ops" {
  endpoints   = [kubernetes.down, kubernetes.wrongca]
  credentials = [k8s_bearer_token.k8s_token]
}
profile "nobody" {
  endpoints = []
}
${options.rules ?? ""}
${RULES}
`,
      { k8s_token: api.token },
      { name: "bot", profile: "ops" },
    );
    const stateDir = join(dir, "state");
    const caPem = await Deno.readTextFile(join(stateDir, CA_CERT_FILE));
    const url = (endpoint = "cluster") => {
      const a = gateway.listenerAddresses("kubernetes").get(endpoint)!;
      return `https://${a.hostname}:${a.port}`;
    };
    const fx: K8sFixture = {
      api,
      dir,
      gateway,
      log,
      token,
      registry,
      url,
      caPem,
      kubectl: (args, o = {}) =>
        runKubectl(dir, args, {
          cluster: o.cluster ?? {
            server: url(o.endpoint),
            "certificate-authority-data": btoa(caPem),
          },
          token: o.token ?? token,
          stdin: o.stdin,
          timeoutMs: o.timeoutMs,
        }),
      receipts: async () => {
        await gateway.settled();
        return queryReceipts(join(stateDir, "receipts.db"));
      },
    };
    try {
      await fn(fx);
    } finally {
      await gateway.stop();
    }
  } finally {
    await api.close();
    await Deno.remove(dir, { recursive: true });
  }
}

let runs = 0;

/** Runs kubectl with a kubeconfig holding `cluster` and `token`, killed after the timeout. */
export async function runKubectl(
  dir: string,
  args: string[],
  options: {
    cluster: Record<string, unknown>;
    token: string;
    stdin?: string;
    timeoutMs?: number;
  },
): Promise<KubectlResult> {
  const home = join(dir, `kubectl-home-${++runs}`);
  await Deno.mkdir(home);
  const kubeconfig = join(home, "config");
  await Deno.writeTextFile(
    kubeconfig,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "gw", cluster: options.cluster }],
      users: [{ name: "agent", user: { token: options.token } }],
      contexts: [{ name: "gw", context: { cluster: "gw", user: "agent" } }],
      "current-context": "gw",
    }),
    { mode: 0o600 },
  );
  const child = new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, ...args],
    // A clean environment: no proxy or kubeconfig from the shell, and a private HOME so the
    // discovery cache of one run never answers for another.
    clearEnv: true,
    env: { HOME: home, PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      // Already exited.
    }
  }, options.timeoutMs ?? 20_000);
  try {
    const out = await child.output();
    return {
      code: out.code,
      stdout: new TextDecoder().decode(out.stdout),
      stderr: new TextDecoder().decode(out.stderr),
    };
  } finally {
    clearTimeout(timer);
  }
}
