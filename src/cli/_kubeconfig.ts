/**
 * Kubeconfig files for agents: which kubernetes endpoints a profile reaches, the YAML kubectl
 * reads, and writing it where only its owner can read it (it holds the agent's token).
 *
 * @module
 */

import { join } from "node:path";
import type { Config, Profile } from "../config/mod.ts";
import { isKubernetesEndpoint, type KubernetesEndpoint } from "../protocols/kubernetes/mod.ts";

/** One cluster of an agent's kubeconfig: where kubectl connects for one kubernetes endpoint. */
export interface KubeCluster {
  /** The endpoint's name in the config. */
  endpoint: string;
  /** `https://…` URL kubectl sends requests to. */
  server: string;
  /** `http://NAME:TOKEN@HOST:PORT`: tunnel through the gateway's forward proxy to `server`. */
  proxyUrl?: string;
}

/** What a kubeconfig without the agent's token holds instead: no secret, replaced upstream. */
export const NO_TOKEN = "clawpatrol-source-address";

/** Options for {@linkcode kubeconfigYaml}. */
export interface KubeconfigOptions {
  /** The agent the file is for (named in its header comment). */
  agent: string;
  /**
   * The agent's token: its bearer token towards the gateway. Absent: the agent is known by its
   * source address (`run --isolate`) and the file holds no secret.
   */
  token?: string;
  /** The gateway CA (PEM): the gateway terminates TLS for every cluster. */
  caPem: string;
}

/**
 * The cluster, user and context name for an endpoint: `clawpatrol-<endpoint>`.
 *
 * @example
 * ```ts
 * contextName("k8s-prod"); // "clawpatrol-k8s-prod"
 * ```
 */
export function contextName(endpoint: string): string {
  return `clawpatrol-${endpoint}`;
}

/**
 * The kubernetes endpoints `profile` reaches, directly or through its credentials, in the order
 * the profile lists them (its endpoints, then each credential's), each once.
 *
 * @example
 * ```ts
 * const endpoints = reachableKubernetes(config, config.profiles.get("oncall-bot")!);
 * ```
 */
export function reachableKubernetes(config: Config, profile: Profile): KubernetesEndpoint[] {
  const names = new Set(profile.endpoints);
  for (const ref of profile.credentials) {
    for (const e of config.credentials.get(ref)?.endpoints ?? []) names.add(e);
  }
  const found: KubernetesEndpoint[] = [];
  for (const name of names) {
    const endpoint = config.endpoints.get(name);
    if (endpoint && isKubernetesEndpoint(endpoint)) found.push(endpoint);
  }
  return found;
}

/**
 * The default kubeconfig path for an agent: `state_dir/kubeconfig-<agent>.yaml`.
 *
 * @example
 * ```ts
 * kubeconfigFile("/srv/gw/state", "oncall-bot"); // "/srv/gw/state/kubeconfig-oncall-bot.yaml"
 * ```
 */
export function kubeconfigFile(stateDir: string, agent: string): string {
  return join(stateDir, `kubeconfig-${agent}.yaml`);
}

/**
 * A kubeconfig with one cluster, user and context per entry of `clusters` (all named
 * {@linkcode contextName}); the first is the current context.
 *
 * @example
 * ```ts
 * const clusters = [{ endpoint: "k8s-prod", server: "https://127.0.0.1:16443" }];
 * const yaml = await kubeconfigYaml(clusters, {
 *   agent: "oncall-bot",
 *   token,
 *   caPem,
 * });
 * ```
 */
export async function kubeconfigYaml(
  clusters: KubeCluster[],
  options: KubeconfigOptions,
): Promise<string> {
  // Imported here: the gateway process, which shares this module graph, never writes one.
  const { stringify } = await import("yaml");
  if (clusters.length === 0) throw new RangeError("Cannot write a kubeconfig without clusters");
  const caData = base64(new TextEncoder().encode(options.caPem));
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    preferences: {},
    clusters: clusters.map((c) => ({
      name: contextName(c.endpoint),
      cluster: {
        server: c.server,
        "certificate-authority-data": caData,
        ...(c.proxyUrl === undefined ? {} : { "proxy-url": c.proxyUrl }),
      },
    })),
    users: clusters.map((c) => ({
      name: contextName(c.endpoint),
      // Without a token kubectl would ask for a user name; the gateway sets the cluster's own.
      user: { token: options.token ?? NO_TOKEN },
    })),
    contexts: clusters.map((c) => ({
      name: contextName(c.endpoint),
      context: { cluster: contextName(c.endpoint), user: contextName(c.endpoint) },
    })),
    "current-context": contextName(clusters[0].endpoint),
  };
  const secrecy = options.token === undefined
    ? "No token: its source address names it."
    : "Holds its token: keep it private.";
  return `# Written by clawpatrol for agent '${options.agent}'. ${secrecy}\n` +
    stringify(doc, { lineWidth: 0 });
}

/**
 * Writes `text` to `path`, readable by its owner only (0600): a new file is created with that
 * mode, an existing one is narrowed to it before anything is written, so the token is never in a
 * file others can read.
 *
 * @example
 * ```ts
 * await writePrivateFile("/srv/gw/state/kubeconfig-oncall-bot.yaml", yaml);
 * ```
 */
export async function writePrivateFile(path: string, text: string): Promise<void> {
  try {
    using file = await Deno.open(path, { write: true, create: true, mode: 0o600 });
    await Deno.chmod(path, 0o600);
    // chmod goes by path: check the file actually open is the private one before writing.
    if (((await file.stat()).mode ?? 0) & 0o077) {
      throw new Error(`Cannot write '${path}': it is readable by others after chmod 0600`);
    }
    await file.truncate(0);
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  } catch (e) {
    // An OS error ("No such file or directory (os error 2): open '…'"): one line naming the path.
    const os = e instanceof Error ? e.message.match(/^(.*?) \(os error \d+\)/) : null;
    if (os) throw new Error(`Cannot write '${path}': ${os[1]}`);
    throw e;
  }
}

function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
