/**
 * `clawpatrol kubeconfig --agent NAME [--endpoint E] [--output PATH] [--token-stdin]`: writes a
 * kubeconfig that points kubectl at the gateway as that agent, one context per kubernetes
 * endpoint its profile reaches.
 *
 * @module
 */

import { resolve } from "node:path";
import type { Config } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import { type GlobalOptions, parseCommand, UsageError } from "./_args.ts";
import { openAgents, writeAgentKubeconfig } from "./_agent_env.ts";
import { authenticateAgent, readToken, TOKEN_ENV } from "./_agent_token.ts";
import { err, out } from "./_io.ts";
import { contextName, reachableKubernetes } from "./_kubeconfig.ts";

const USAGE = "clawpatrol kubeconfig --agent NAME [--endpoint E] [--output PATH] [--token-stdin]";

/**
 * Runs `clawpatrol kubeconfig`. The token comes from one line of stdin with `--token-stdin`, else
 * `$CLAWPATROL_AGENT_TOKEN`, else a prompt that does not echo; never from the arguments (they show
 * in `ps`). It is checked before anything is written. The file (default
 * `state_dir/kubeconfig-<agent>.yaml`) is 0600; its path is the last line of stdout.
 *
 * @example
 * ```ts
 * await kubeconfigCommand(["--agent", "oncall-bot", "--endpoint", "k8s-prod"]);
 * ```
 */
export async function kubeconfigCommand(args: string[]): Promise<number> {
  const { agent: name, endpoint: wanted, output, tokenStdin, global } = kubeconfigArgs(args);
  const opened = await openAgents(global);
  const { config } = opened;
  // What the config alone can refute is refuted before the token is asked for.
  if (wanted !== undefined) checkKubernetesEndpoint(config, wanted);

  const token = await readToken(name, {
    fromStdin: false,
    stdinFirst: tokenStdin,
    howToPass: `set ${TOKEN_ENV} or pass --token-stdin`,
  });
  if (token === null) {
    err("Interrupted");
    return 130;
  }
  const agent = authenticateAgent(opened.registry, name, token);
  const endpoints = agentEndpoints(config, agent, wanted);
  const path = await writeAgentKubeconfig(opened, agent, token, {
    endpoints,
    path: output === undefined ? undefined : resolve(output),
  });
  const contexts = endpoints.map((e) => contextName(e.name));
  out(
    `Wrote kubeconfig for agent '${agent.name}': ${
      contexts.length === 1 ? "context" : "contexts"
    } ${contexts.join(", ")} (current ${contexts[0]})`,
  );
  out(path);
  return 0;
}

/** The command line of `clawpatrol kubeconfig`, checked. */
interface KubeconfigArgs {
  agent: string;
  /** `--endpoint`: the one endpoint to write a context for. */
  endpoint?: string;
  /** `--output`: where to write instead of the state directory. */
  output?: string;
  tokenStdin: boolean;
  global: GlobalOptions;
}

/** Parses the arguments; a token among them is refused, as are missing or empty values. */
function kubeconfigArgs(args: string[]): KubeconfigArgs {
  if (args.some((a) => a === "--token" || a.startsWith("--token="))) {
    throw new UsageError(
      `kubeconfig takes no --token (arguments show in ps): set ${TOKEN_ENV}, pass --token-stdin, or type it at the prompt`,
    );
  }
  const { values, positionals, global } = parseCommand(args, {
    agent: { type: "string", short: "a" },
    endpoint: { type: "string", short: "e" },
    output: { type: "string", short: "o" },
    "token-stdin": { type: "boolean" },
  });
  if (positionals.length > 0) {
    throw new UsageError(`kubeconfig takes no arguments: ${USAGE}`);
  }
  const agent = values.agent;
  if (typeof agent !== "string" || agent === "") {
    throw new UsageError(`kubeconfig needs --agent NAME: ${USAGE}`);
  }
  const endpoint = values.endpoint as string | undefined;
  const output = values.output as string | undefined;
  if (output === "") throw new UsageError("--output needs a path");
  return { agent, endpoint, output, tokenStdin: values["token-stdin"] === true, global };
}

/** Refuses `--endpoint NAME` when the config has no such endpoint, or it is not kubernetes. */
function checkKubernetesEndpoint(config: Config, wanted: string): void {
  const endpoint = config.endpoints.get(wanted);
  if (!endpoint) {
    const known = [...config.endpoints.values()].filter((e) => e.protocol === "kubernetes")
      .map((e) => `'${e.name}'`);
    throw new UsageError(
      `unknown endpoint '${wanted}': ${
        known.length === 0
          ? "the config defines no kubernetes endpoint"
          : `the config's kubernetes endpoints are ${known.join(", ")}`
      }`,
    );
  }
  if (endpoint.protocol !== "kubernetes") {
    throw new UsageError(`endpoint '${wanted}' is ${endpoint.protocol}, not kubernetes`);
  }
}

/**
 * The kubernetes endpoints the file gets a context for: those `agent`'s profile reaches, or just
 * `wanted`. Refused when that leaves none.
 */
function agentEndpoints(
  config: Config,
  agent: AgentFacts,
  wanted: string | undefined,
): ReturnType<typeof reachableKubernetes> {
  const profile = config.profiles.get(agent.profile);
  if (!profile) {
    throw new Error(
      `Agent '${agent.name}' has profile '${agent.profile}', which the config no longer defines`,
    );
  }
  const reachable = reachableKubernetes(config, profile);
  if (wanted === undefined) {
    if (reachable.length === 0) {
      throw new UsageError(
        `agent '${agent.name}' reaches no kubernetes endpoint: profile '${agent.profile}' includes none`,
      );
    }
    return reachable;
  }
  const endpoints = reachable.filter((e) => e.name === wanted);
  if (endpoints.length === 0) {
    throw new UsageError(
      `endpoint '${wanted}' is not reachable by agent '${agent.name}': profile '${agent.profile}' does not include it`,
    );
  }
  return endpoints;
}
