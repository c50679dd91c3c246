/**
 * `agent add --wireguard`: a tunnel address for the agent's host (`sources.json`: it names the
 * agent), its key pair (or the public key it brings), the peer put on the running interface, and
 * the `wg-quick` file that makes the gateway the host's only route to production. `agent revoke`
 * takes the peer off again.
 *
 * @module
 */

import { SourceRegistry } from "../agents/mod.ts";
import { splitHostPort } from "../core/mod.ts";
import type { TunnelConfig } from "../config/mod.ts";
import {
  generateWireguardKeys,
  isWireguardKey,
  peerAddresses,
  wgQuickConfig,
} from "../transparent/mod.ts";
import { UsageError } from "./_args.ts";
import type { OpenedAgents } from "./_agent_env.ts";
import { err } from "./_io.ts";
import { PrivilegeError } from "./_privileged.ts";
import { changePeer, tunnelKeys, tunnelOf } from "./_wireguard.ts";

/** What `agent add --wireguard` was asked. */
export interface WireguardRequest {
  tunnel?: string;
  /** The agent host's own public key: no private key is made or shown. */
  publicKey?: string;
  /** Route everything through the tunnel, not only the gateway and its virtual IPs. */
  fullTunnel: boolean;
  /** `host:port` the agent host dials; default: the tunnel's `endpoint`. */
  endpoint?: string;
}

/** The tunnel and endpoint a request means, checked before anything is enrolled. */
export function checkWireguard(
  opened: OpenedAgents,
  request: WireguardRequest,
): { tunnel: TunnelConfig; endpoint: string } {
  const tunnel = tunnelOf(opened.config, request.tunnel);
  const endpoint = request.endpoint ?? tunnel.endpoint;
  if (endpoint === undefined) {
    throw new UsageError(
      `say where agent hosts reach tunnel '${tunnel.name}': --endpoint HOST:PORT, or endpoint = ` +
        `"HOST:${tunnel.listenPort}" in its block`,
    );
  }
  if (request.publicKey !== undefined && !isWireguardKey(request.publicKey)) {
    throw new UsageError("--public-key must be a WireGuard public key (44 characters of base64)");
  }
  return { tunnel, endpoint };
}

/**
 * Enrols `agent` on the tunnel and returns its host's `wg-quick` file (with its private key,
 * shown this once, unless it brought its own public key).
 */
export async function enrolWireguard(
  opened: OpenedAgents,
  agent: string,
  request: WireguardRequest,
): Promise<string> {
  const { tunnel, endpoint } = checkWireguard(opened, request);
  const gateway = await tunnelKeys(opened.stateDir, tunnel.name);
  const own = request.publicKey === undefined ? await generateWireguardKeys() : undefined;
  const publicKey = request.publicKey ?? own!.publicKey;
  const lease = SourceRegistry.open(opened.stateDir).register(
    (taken) => [...peerAddresses(tunnel.address)].find((a) => !taken.has(a)) ?? null,
    agent,
    "wireguard",
    { tunnel: tunnel.name, publicKey },
  );
  await applyPeer(tunnel, { add: lease }, agent);
  const transparent = opened.config.gateway.transparent!;
  const gatewayAddress = tunnel.address.split("/")[0];
  return wgQuickConfig({
    privateKey: own?.privateKey,
    address: lease.address,
    dns: splitHostPort(transparent.dnsListen)[0],
    gatewayPublicKey: gateway.publicKey,
    endpoint,
    allowedIps: request.fullTunnel ? ["0.0.0.0/0"] : [`${gatewayAddress}/32`, transparent.vipRange],
  });
}

/** Takes a revoked agent's tunnel addresses back and its peers off their interfaces. */
export async function revokeWireguard(opened: OpenedAgents, agent: string): Promise<void> {
  const gone = SourceRegistry.open(opened.stateDir).releaseWhere((l) => l.agent === agent);
  for (const lease of gone) {
    const tunnel = lease.peerOf && opened.config.tunnels.get(lease.peerOf.tunnel);
    if (tunnel) await applyPeer(tunnel, { remove: lease }, agent);
  }
}

/** Puts the change on the running interface; when it cannot, says what happens instead. */
async function applyPeer(
  tunnel: TunnelConfig,
  change: Parameters<typeof changePeer>[1],
  agent: string,
): Promise<void> {
  const what = "add" in change ? "added to" : "removed from";
  let failure: string;
  try {
    const done = await changePeer(tunnel, change);
    if (done.code === 0) return;
    failure = done.stderr.trim() || `tunnel.sh exited ${done.code}`;
  } catch (e) {
    if (!(e instanceof PrivilegeError)) throw e;
    failure = e.message;
  }
  err(
    `Warning: agent '${agent}' was not ${what} ${tunnel.interface} (${failure}); ` +
      ("add" in change
        ? `'clawpatrol tunnel up ${tunnel.name}' adds it`
        : "the gateway refuses its traffic anyway, and the next 'tunnel up' leaves it out"),
  );
}
