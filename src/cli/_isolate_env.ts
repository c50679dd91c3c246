/**
 * What a command under `run --isolate` gets: a few of the caller's variables (its path, home,
 * terminal and locale) and no proxy setting (the network leads only to the gateway, which
 * intercepts), CA trust for the gateway, a
 * kubeconfig and libpq settings naming the endpoints' real servers, and the credentials'
 * placeholders. No token: the namespace's source address names the agent. The files it needs are
 * staged in a directory the privileged step copies into the namespace's own /tmp.
 *
 * @module
 */

import { join } from "node:path";
import type { AgentFacts } from "../core/mod.ts";
import { CA_CERT_FILE } from "../tls/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { BUNDLE_VARS, type OpenedAgents, placeholderVariables, writeWgetrc } from "./_agent_env.ts";
import { agentListeners } from "./_agent_listeners.ts";
import { readGatewayCa, writeCaBundle } from "./_ca_bundle.ts";
import { err } from "./_io.ts";
import { kubeconfigYaml, reachableKubernetes } from "./_kubeconfig.ts";

/** Where the staged files appear inside the namespace. */
export const IN_NAMESPACE = "/tmp/clawpatrol";

/**
 * The caller's variables the command keeps; nothing else of the caller's environment goes in
 * (a shell's AWS keys or tokens are the operator's, not the agent's).
 */
export const KEPT = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LC_ALL", "TZ"];

/**
 * Stages the agent's files in `dir` (CA, CA bundle, wgetrc, kubeconfig: no secret among them)
 * and returns the command's environment, as it will be inside the namespace.
 *
 * `other`: the command runs as another user than the caller (its home is then the fresh /tmp).
 *
 * @example
 * ```ts
 * const env = await isolatedEnvironment(opened, agent, "/srv/gw/state/isolate/clawpatrol-41");
 * ```
 */
export async function isolatedEnvironment(
  opened: OpenedAgents,
  agent: AgentFacts,
  dir: string,
  other?: { user: string },
): Promise<[string, string][]> {
  const { config, stateDir } = opened;
  const profile = config.profiles.get(agent.profile);
  if (!profile) {
    throw new Error(
      `Agent '${agent.name}' has profile '${agent.profile}', which the config no longer defines`,
    );
  }
  const caPem = await readGatewayCa(join(stateDir, CA_CERT_FILE));
  await Deno.writeTextFile(join(dir, "ca.pem"), caPem, { mode: 0o644 });
  await writeCaBundle(dir, join(dir, "ca.pem"));
  const ca = `${IN_NAMESPACE}/ca.pem`;
  const bundle = `${IN_NAMESPACE}/ca-bundle.pem`;
  // Another user than the caller (root's `--as`): not the caller's home or name.
  const own = other ? { HOME: "/tmp", USER: other.user, LOGNAME: other.user } : {};
  const inherited = KEPT.flatMap((name): [string, string][] => {
    const value = Object.hasOwn(own, name) ? own[name as keyof typeof own] : Deno.env.get(name);
    return value === undefined ? [] : [[name, value]];
  });
  const vars: [string, string][] = [
    ...inherited,
    ["CLAWPATROL_AGENT", agent.name],
    ["TMPDIR", "/tmp"],
    ...BUNDLE_VARS.map((name): [string, string] => [name, bundle]),
    ["NODE_EXTRA_CA_CERTS", ca],
  ];
  if (await writeWgetrc(dir, bundle)) vars.push(["WGETRC", `${IN_NAMESPACE}/wgetrc`]);
  const kubernetes = reachableKubernetes(config, profile);
  if (kubernetes.length > 0) {
    // The real API servers: kubectl dials their names, which lead to the gateway.
    const clusters = kubernetes.map((e) => ({ endpoint: e.name, server: e.server }));
    const yaml = await kubeconfigYaml(clusters, { agent: agent.name, caPem });
    await Deno.writeTextFile(join(dir, "kubeconfig"), yaml, { mode: 0o644 });
    vars.push(["KUBECONFIG", `${IN_NAMESPACE}/kubeconfig`]);
  }
  const families = new Set<string>();
  for (const { protocol, endpoint, credential } of agentListeners(config, profile, PROTOCOLS)) {
    if (families.has(protocol.family)) continue;
    const name = protocol.names?.(endpoint)[0];
    const port = protocol.intercept?.ports(endpoint)[0];
    if (name === undefined || port === undefined) {
      err(`Warning: endpoint '${endpoint.name}' has no name to dial: its variables are not set`);
      continue;
    }
    families.add(protocol.family);
    vars.push(...protocol.agentEnvironment!(endpoint, credential, {
      token: "",
      caPath: ca,
      address: `${name}:${port}`,
      transparent: true,
      warn: (message) => err(`Warning: ${message}`),
    }));
  }
  // Later entries win over inherited ones of the same name.
  const merged = new Map(placeholderVariables(config, profile, vars.slice(inherited.length)));
  return [...inherited.filter(([name]) => !merged.has(name)), ...merged];
}
