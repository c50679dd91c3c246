/**
 * `clawpatrol tunnel up|down|show [NAME]`: the gateway host's WireGuard interface for agents on
 * other hosts. `up` makes the tunnel's key on first use (sealed in the vault), then hands the key
 * and the enrolled peers to the privileged step (`tunnel.sh`, as root or through `sudo -n`); run it
 * as the state directory's owner, once per boot, before or after the gateway starts.
 *
 * @module
 */

import { SourceRegistry } from "../agents/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { openAgents } from "./_agent_env.ts";
import { err, out } from "./_io.ts";
import { PrivilegeError, runPrivileged } from "./_privileged.ts";
import { peerStates, tunnelKeys, tunnelOf, tunnelPeers, tunnelUp } from "./_wireguard.ts";

const USAGE = "clawpatrol tunnel up|down|show [NAME]";

/** Runs `clawpatrol tunnel`. */
export async function tunnelCommand(args: string[]): Promise<number> {
  const { positionals, global } = parseCommand(args, {});
  const [sub, name, ...rest] = positionals;
  if (!["up", "down", "show"].includes(sub ?? "") || rest.length > 0) {
    throw new UsageError(`tunnel needs up, down or show and at most one NAME: ${USAGE}`);
  }
  const opened = await openAgents(global);
  const tunnel = tunnelOf(opened.config, name);
  await refuseForeignState(opened.stateDir);
  try {
    if (sub === "down") {
      const down = await runPrivileged("tunnel.sh", ["down", "--interface", tunnel.interface]);
      if (down.code === 0) out(`Tunnel '${tunnel.name}' is down (${tunnel.interface} removed).`);
      return down.code === 0 ? 0 : 1;
    }
    if (sub === "show") return await show(tunnel, opened.stateDir);
    const keys = await tunnelKeys(opened.stateDir, tunnel.name);
    const sources = SourceRegistry.open(opened.stateDir);
    const active = (agent: string) => opened.registry.active(agent) !== null;
    const peers = tunnelPeers(sources, tunnel.name, active);
    const up = await tunnelUp(opened.config, tunnel, keys, peers);
    if (up.code !== 0) {
      err(
        `Error: tunnel '${tunnel.name}' did not come up: ${up.stderr.trim() || up.stdout.trim()}`,
      );
      return 1;
    }
    out(
      `Tunnel '${tunnel.name}' is up: ${tunnel.interface} ${tunnel.address}, UDP ${tunnel.listenPort}, ` +
        `${peers.length} peer${peers.length === 1 ? "" : "s"}.`,
    );
    out(`Its public key: ${keys.publicKey}`);
    return 0;
  } catch (e) {
    if (!(e instanceof PrivilegeError)) throw e;
    err(`Error: tunnel ${sub}: ${e.message}`);
    return 2;
  }
}

async function show(tunnel: { name: string; interface: string }, stateDir: string) {
  const states = await peerStates(tunnel as Parameters<typeof peerStates>[0]);
  if (states === null) {
    err(`Error: cannot read ${tunnel.interface}: is tunnel '${tunnel.name}' up?`);
    return 1;
  }
  const peers = SourceRegistry.open(stateDir).list().filter((l) =>
    l.peerOf?.tunnel === tunnel.name
  );
  out(["AGENT", "ADDRESS", "HANDSHAKE", "RECEIVED", "SENT"].join("\t"));
  for (const peer of peers) {
    const state = states.get(peer.peerOf!.publicKey);
    const age = !state
      ? "not on the interface"
      : state.latestHandshake === 0
      ? "never"
      : `${Math.round(Date.now() / 1000 - state.latestHandshake)}s ago`;
    out([peer.agent, peer.address, age, state?.received ?? "-", state?.sent ?? "-"].join("\t"));
  }
  return 0;
}

/**
 * Root working on a state directory another user owns would leave root's files in it (the vault's
 * journal) that the gateway cannot open: refuse, and say who to run as.
 */
async function refuseForeignState(stateDir: string): Promise<void> {
  if (Deno.uid() !== 0) return;
  const owner = (await Deno.stat(stateDir)).uid;
  if (owner !== null && owner !== 0) {
    throw new UsageError(
      `run 'clawpatrol tunnel' as the owner of ${stateDir} (uid ${owner}), not root: it asks ` +
        "sudo for its one privileged step",
    );
  }
}
