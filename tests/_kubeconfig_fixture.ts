/**
 * Shared by the `clawpatrol kubeconfig` tests: an init'ed directory with kubernetes endpoints and
 * profiles, agents enrolled in it, and the kubeconfig files the CLI writes.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { cli, initDir } from "./_helpers.ts";

/** Where kubectl is expected; the tests that need it are skipped when it is not there. */
export const KUBECTL = "/usr/bin/kubectl";
/** Whether {@linkcode KUBECTL} exists. */
export const hasKubectl = await Deno.stat(KUBECTL).then((s) => s.isFile, () => false);

/** The non-blank lines of `s`. */
export const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

/**
 * Endpoints: k8s-prod (a gateway listener), k8s-dev (no listener: reached through the proxy),
 * k8s-other (in no profile's reach), k8s-lan (a listener on a non-loopback address). Profiles:
 * kube reaches k8s-dev directly and k8s-prod through its credential; lan reaches k8s-lan.
 */
function kubernetesConfig(listenPort: number): string {
  return `
endpoint "kubernetes" "k8s-prod" {
  server = "https://10.0.0.1:6443"
  listen = "127.0.0.1:${listenPort}"
}
endpoint "kubernetes" "k8s-dev" {
  server = "https://k8s-dev.internal:6443"
}
endpoint "kubernetes" "k8s-other" {
  server = "https://10.0.0.9:6443"
  listen = "127.0.0.1:16999"
}
endpoint "kubernetes" "k8s-lan" {
  server = "https://10.0.0.7:6443"
  listen = "10.9.8.7:16443"
}
credential "k8s_bearer_token" "k8s_prod" {
  endpoint = kubernetes.k8s-prod
}
profile "kube" {
  endpoints   = [kubernetes.k8s-dev]
  credentials = [k8s_bearer_token.k8s_prod]
}
profile "lan" {
  endpoints = [kubernetes.k8s-lan]
}
`;
}

/** Where the tests' configs put the gateway: nothing listens there unless a test does. */
export interface Ports {
  /** k8s-prod's `listen`. @default {16443} */
  listen?: number;
  /** `gateway.proxy_listen`. @default {18080} */
  proxy?: number;
}

/** An init'ed `dir` with the kubernetes config; returns its state directory. */
export async function setUp(dir: string, ports: Ports = {}): Promise<string> {
  const config = await initDir(dir);
  const text = await Deno.readTextFile(config);
  await Deno.writeTextFile(
    config,
    text.replace(
      /proxy_listen\s*=\s*"[^"]*"/,
      `proxy_listen = "127.0.0.1:${ports.proxy ?? 18080}"`,
    ) +
      kubernetesConfig(ports.listen ?? 16443),
  );
  return join(await Deno.realPath(dir), "state");
}

/** `agent add NAME --profile P` in `dir`; returns the token (the last line of stdout). */
export async function addAgent(dir: string, name: string, profile: string): Promise<string> {
  const r = await cli(["agent", "add", name, "--profile", profile], { cwd: dir });
  equal(r.code, 0, r.stderr);
  return lines(r.stdout).at(-1)!;
}

/** The parts of a kubeconfig the tests look at. */
export interface Kubeconfig {
  clusters: {
    name: string;
    cluster: { server: string; "certificate-authority-data": string; "proxy-url"?: string };
  }[];
  users: { name: string; user: { token: string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  "current-context": string;
}

/** Reads and parses the kubeconfig at `path`. */
export async function readKubeconfig(path: string): Promise<Kubeconfig> {
  return parseYaml(await Deno.readTextFile(path)) as Kubeconfig;
}

/** Whether `path` exists. */
export const exists = (path: string) => Deno.stat(path).then(() => true, () => false);
/** The permission bits of `path`. */
export const modeOf = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

/** Runs kubectl with `args`, without the caller's proxy or kubeconfig settings. */
export async function kubectl(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(KUBECTL, {
    args,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: decode(out.stdout), stderr: decode(out.stderr) };
}
