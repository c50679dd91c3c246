/**
 * What every in-process gateway fixture repeats: the config header on loopback with random
 * ports, a state directory with secrets in the vault and one enrolled agent, and a started
 * gateway with a memory logger.
 *
 * @module
 */

import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { createState, Gateway, MemoryLogger } from "../src/gateway/mod.ts";

/** `schema_version` and a `gateway` block: state in `./state`, listeners on free ports. */
export function gatewayHeader(limits = ""): string {
  return `schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:0"
  admin_listen = "127.0.0.1:0"
  limits {
${limits}
  }
}
`;
}

/** A vault value: `name` → value (default slot), or `[name, slot, value]`. */
export type Secrets = Record<string, string> | [string, string, string][];

/**
 * Writes `configText` to `dir/gateway.hcl`, creates `dir/state` with `secrets` in its vault and
 * agent `agent.name` enrolled, and starts the gateway (no file watching).
 */
export async function startTestGateway(
  dir: string,
  configText: string,
  secrets: Secrets,
  agent: { name: string; profile: string },
): Promise<{ gateway: Gateway; log: MemoryLogger; registry: AgentRegistry; token: string }> {
  const config = join(dir, "gateway.hcl");
  await Deno.writeTextFile(config, configText);
  const stateDir = join(dir, "state");
  await createState(stateDir, false);
  const vault = await openVault(stateDir);
  try {
    const rows: [string, string, string][] = Array.isArray(secrets)
      ? secrets
      : Object.entries(secrets).map(([name, value]) => [name, DEFAULT_SLOT, value]);
    for (const [name, slot, value] of rows) await vault.set(name, slot, value);
  } finally {
    vault.close();
  }
  const registry = AgentRegistry.open(stateDir);
  const token = registry.add(agent.name, agent.profile);
  const log = new MemoryLogger();
  const gateway = await Gateway.start(config, { log, version: "test", watch: false });
  return { gateway, log, registry, token };
}
