/**
 * What `tunnel` and `agent` share about WireGuard tunnels: the gateway's key (sealed in the vault,
 * made on first use), the peers enrolled on a tunnel (`sources.json`: the tunnel address names the
 * agent), and the privileged step that puts them on the interface (`tunnel.sh`).
 *
 * @module
 */

import { type SourceLease, SourceRegistry } from "../agents/mod.ts";
import type { Config, TunnelConfig } from "../config/mod.ts";
import { DEFAULT_SLOT, openVault, type Vault } from "../credentials/mod.ts";
import { generateWireguardKeys, wireguardPublicKey } from "../transparent/mod.ts";
import { UsageError } from "./_args.ts";
import { firewallArgs, interceptPorts } from "./_isolate.ts";
import { runPrivileged, type StepResult } from "./_privileged.ts";
import { vaultUnlock } from "./_vault_unlock.ts";

/** The vault entry holding a tunnel's private key. */
export function tunnelKeyName(tunnel: string): string {
  return `clawpatrol.wireguard.${tunnel}`;
}

/** The tunnel `name` names, or (no name) the config's only one; a usage error otherwise. */
export function tunnelOf(config: Config, name: string | undefined): TunnelConfig {
  const names = [...config.tunnels.keys()];
  if (name === undefined && names.length === 1) return config.tunnels.get(names[0])!;
  const tunnel = name === undefined ? undefined : config.tunnels.get(name);
  if (tunnel) return tunnel;
  if (names.length === 0) {
    throw new UsageError('the config defines no tunnel: add tunnel "wireguard" "NAME" { … }');
  }
  throw new UsageError(
    `${name === undefined ? "name the tunnel" : `no tunnel '${name}'`}: the config defines ${
      names.map((n) => `'${n}'`).join(", ")
    }`,
  );
}

/** The tunnel's key pair: the private key from the vault, made and sealed there on first use. */
export async function tunnelKeys(
  stateDir: string,
  tunnel: string,
): Promise<{ privateKey: string; publicKey: string }> {
  const vault: Vault = await openVault(stateDir, vaultUnlock({ passphraseStdin: false }));
  try {
    const name = tunnelKeyName(tunnel);
    const stored = await vault.get(name);
    if (stored !== null) return { privateKey: stored, publicKey: await wireguardPublicKey(stored) };
    const made = await generateWireguardKeys();
    await vault.set(name, DEFAULT_SLOT, made.privateKey);
    return made;
  } finally {
    vault.close();
  }
}

/** The peers enrolled on `tunnel`, active agents only. */
export function tunnelPeers(
  sources: SourceRegistry,
  tunnel: string,
  active: (agent: string) => boolean,
): SourceLease[] {
  return sources.list().filter((l) => l.peerOf?.tunnel === tunnel && active(l.agent));
}

/** Brings `tunnel` up with its key and peers (the privileged step); its exit code. */
export async function tunnelUp(
  config: Config,
  tunnel: TunnelConfig,
  keys: { privateKey: string },
  peers: SourceLease[],
): Promise<StepResult> {
  const transparent = config.gateway.transparent!;
  const ports = interceptPorts(config);
  const args = [
    "up",
    ...["--interface", tunnel.interface, "--address", tunnel.address],
    ...["--listen-port", String(tunnel.listenPort), "--vip-range", transparent.vipRange],
    ...firewallArgs(transparent, ports),
  ];
  // The key and the peers go through stdin: never argv, which every user of the host can read.
  const input = [keys.privateKey, ...peers.map((p) => `${p.peerOf!.publicKey} ${p.address}`)]
    .join("\n") + "\n";
  return await runPrivileged("tunnel.sh", args, { input, capture: true });
}

/** Adds or removes one peer on the running interface (the privileged step). */
export async function changePeer(
  tunnel: TunnelConfig,
  change: { add: SourceLease } | { remove: SourceLease },
): Promise<StepResult> {
  const lease = "add" in change ? change.add : change.remove;
  const args = "add" in change ? ["peer-add", "--peer-address", lease.address] : ["peer-remove"];
  return await runPrivileged("tunnel.sh", [
    ...args,
    "--interface",
    tunnel.interface,
    "--public-key",
    lease.peerOf!.publicKey,
  ], { capture: true });
}

/** One peer as `wg show IF dump` reports it. */
export interface PeerState {
  publicKey: string;
  /** Seconds since the epoch of the last handshake; 0: none yet. */
  latestHandshake: number;
  received: number;
  sent: number;
}

/** The interface's peers as `wg` sees them, or `null` when they cannot be read here. */
export async function peerStates(tunnel: TunnelConfig): Promise<Map<string, PeerState> | null> {
  let shown: StepResult;
  try {
    shown = await runPrivileged("tunnel.sh", ["show", "--interface", tunnel.interface], {
      capture: true,
    });
  } catch {
    return null;
  }
  if (shown.code !== 0) return null;
  const states = new Map<string, PeerState>();
  // The first line is the interface; then: key, psk, endpoint, allowed ips, handshake, rx, tx, …
  for (const line of shown.stdout.trim().split("\n").slice(1)) {
    const f = line.split("\t");
    if (f.length < 7) continue;
    states.set(f[0], {
      publicKey: f[0],
      latestHandshake: Number(f[4]),
      received: Number(f[5]),
      sent: Number(f[6]),
    });
  }
  return states;
}
