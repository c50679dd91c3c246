/**
 * `clawpatrol kubeconfig --agent NAME [--endpoint E] [--output PATH] [--token-stdin]`: writes a
 * kubeconfig that points kubectl at the gateway as that agent, one context per kubernetes
 * endpoint its profile reaches.
 *
 * @module
 */

import { resolve } from "node:path";
import { parseCommand, UsageError } from "./_args.ts";
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
  const name = values.agent;
  if (typeof name !== "string" || name === "") {
    throw new UsageError(`kubeconfig needs --agent NAME: ${USAGE}`);
  }
  const wanted = values.endpoint as string | undefined;
  const output = values.output as string | undefined;
  if (output === "") throw new UsageError("--output needs a path");
  const opened = await openAgents(global);
  const { config } = opened;

  // What the config alone can refute is refuted before the token is asked for.
  if (wanted !== undefined) {
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

  const token = await readToken(name, {
    fromStdin: false,
    stdinFirst: values["token-stdin"] === true,
    howToPass: `set ${TOKEN_ENV} or pass --token-stdin`,
  });
  if (token === null) {
    err("Interrupted");
    return 130;
  }
  const agent = authenticateAgent(opened.registry, name, token);
  const profile = config.profiles.get(agent.profile);
  if (!profile) {
    throw new Error(
      `Agent '${agent.name}' has profile '${agent.profile}', which the config no longer defines`,
    );
  }
  const reachable = reachableKubernetes(config, profile);
  let endpoints = reachable;
  if (wanted !== undefined) {
    endpoints = reachable.filter((e) => e.name === wanted);
    if (endpoints.length === 0) {
      throw new UsageError(
        `endpoint '${wanted}' is not reachable by agent '${agent.name}': profile '${agent.profile}' does not include it`,
      );
    }
  } else if (endpoints.length === 0) {
    throw new UsageError(
      `agent '${agent.name}' reaches no kubernetes endpoint: profile '${agent.profile}' includes none`,
    );
  }
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
