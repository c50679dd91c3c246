/**
 * The tunnel columns of `agent list`: each WireGuard peer's tunnel and address, its last
 * handshake and its bytes, as the interface reports them (read through the privileged step, so
 * `-` where it cannot run).
 *
 * @module
 */

import { SourceRegistry } from "../agents/mod.ts";
import type { OpenedAgents } from "./_agent_env.ts";
import { type PeerState, peerStates } from "./_wireguard.ts";

/** One agent's tunnel, as `agent list` shows it. */
export interface TunnelColumns {
  tunnel: string;
  address: string;
  /** `12s ago`, `never`, or `-` when the interface cannot be read here. */
  handshake: string;
  /** `received/sent`, or `-`. */
  bytes: string;
}

/** The tunnel columns by agent name; empty when no agent has a tunnel address. */
export async function tunnelColumns(opened: OpenedAgents): Promise<Map<string, TunnelColumns>> {
  const peers = SourceRegistry.open(opened.stateDir).list().filter((l) => l.peerOf);
  const columns = new Map<string, TunnelColumns>();
  if (peers.length === 0) return columns;
  const states = new Map<string, Map<string, PeerState> | null>();
  for (const name of new Set(peers.map((p) => p.peerOf!.tunnel))) {
    const tunnel = opened.config.tunnels.get(name);
    states.set(name, tunnel ? await peerStates(tunnel) : null);
  }
  for (const peer of peers) {
    const { tunnel, publicKey } = peer.peerOf!;
    const seen = states.get(tunnel);
    const state = seen?.get(publicKey);
    columns.set(peer.agent, {
      tunnel,
      address: peer.address,
      handshake: seen === null ? "-" : handshakeAge(state),
      bytes: state ? `${state.received}/${state.sent}` : "-",
    });
  }
  return columns;
}

function handshakeAge(state: PeerState | undefined): string {
  if (!state) return "not on the interface";
  if (state.latestHandshake === 0) return "never";
  return `${Math.max(0, Math.round(Date.now() / 1000 - state.latestHandshake))}s ago`;
}
