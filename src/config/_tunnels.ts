/**
 * Reads `tunnel "wireguard" NAME { … }` blocks: a WireGuard interface on the gateway host that
 * agents on other hosts reach the gateway's virtual IPs through (DESIGN.md §9). The interface is
 * the operating system's, brought up by the privileged `clawpatrol tunnel up NAME`; the gateway
 * only sees connections from the peers' tunnel addresses.
 *
 * @module
 */

import { formatIpv4, parseIpv4, parseVipRange, type VipRange } from "../transparent/mod.ts";
import type { FoundBlock } from "./_blocks.ts";
import { addUnique } from "./_blocks.ts";
import type { GatewayConfig, TunnelConfig } from "./types.ts";

/** Tunnel kinds this build knows. */
const KINDS = ["wireguard"];
/** A name short enough for its interface (`cpwg-NAME`, 15 bytes at most). */
const NAME = /^[a-z0-9][a-z0-9-]{0,9}$/;

/** Reads every tunnel block, keyed by name; every problem is reported against its line. */
export function readTunnels(
  blocks: readonly FoundBlock[],
  gateway: GatewayConfig,
): Map<string, TunnelConfig> {
  const tunnels = new Map<string, TunnelConfig>();
  const ports = new Map<number, string>();
  for (const b of blocks) {
    const [kind, name] = b.labels;
    const r = b.reader;
    if (!KINDS.includes(kind)) {
      r.problem(`unknown tunnel kind "${kind}": use ${KINDS.join(", ")}`);
      continue;
    }
    if (!NAME.test(name)) {
      r.problem(`tunnel name '${name}' must be 1 to 10 lowercase letters, digits or '-'`);
    }
    if (!gateway.transparent) {
      r.problem(
        "a tunnel needs gateway { transparent { vip_range = … } }: its peers reach endpoints by " +
          "their virtual IPs",
      );
    }
    const listenPort = r.integer("listen_port", 51820);
    if (listenPort < 1 || listenPort > 65535) {
      r.problem(`listen_port ${listenPort} is not a port`, "listen_port");
    }
    const other = ports.get(listenPort);
    if (other !== undefined) {
      r.problem(`listen_port ${listenPort} is tunnel '${other}''s too`, "listen_port");
    }
    ports.set(listenPort, name);
    const address = r.required("address");
    const network = address === undefined ? undefined : tunnelNetwork(address, r.problem.bind(r));
    if (network && gateway.transparent) {
      for (
        const [field, text] of [
          ["vip_range", gateway.transparent.vipRange],
          ["link_range", gateway.transparent.linkRange],
        ]
      ) {
        if (overlaps(network, parseVipRange(text))) {
          r.problem(`address ${address} overlaps transparent.${field} ${text}`, "address");
        }
      }
    }
    const endpoint = r.hostPort("endpoint");
    const iface = r.string("interface") ?? `cpwg-${name}`;
    if (!/^[a-zA-Z0-9_.-]{1,15}$/.test(iface)) {
      r.problem(`interface '${iface}' is not an interface name (15 characters at most)`);
    }
    r.reportUnknown();
    const tunnel: TunnelConfig = {
      kind: "wireguard",
      name,
      source: r.source,
      listenPort,
      address: address ?? "",
      interface: iface,
      ...endpoint === undefined ? {} : { endpoint },
    };
    addUnique(tunnels, tunnel, { key: name, reader: r, what: "tunnel" });
  }
  return tunnels;
}

/** The network of `a.b.c.d/n` (the gateway's own address in it), or undefined after a problem. */
function tunnelNetwork(
  address: string,
  problem: (message: string, field?: string) => void,
): VipRange | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(address);
  const ip = m ? parseIpv4(m[1]) : null;
  const prefix = m ? Number(m[2]) : NaN;
  if (!m || ip === null || prefix < 16 || prefix > 28) {
    problem(
      `address '${address}' must be the gateway's IPv4 address with a /16 to /28 prefix, such as 10.78.0.1/24`,
      "address",
    );
    return undefined;
  }
  const size = 2 ** (32 - prefix);
  const base = ip - (ip % size);
  if (ip === base || ip === base + size - 1) {
    problem(
      `address '${address}' is the network's own or broadcast address: use a host address`,
      "address",
    );
    return undefined;
  }
  return parseVipRange(`${formatIpv4(base)}/${prefix}`);
}

function overlaps(a: VipRange, b: VipRange): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}
