/**
 * WireGuard's side of the tunnel that is the gateway's own (DESIGN.md §9): Curve25519 keys in
 * WireGuard's base64 form, made and checked with WebCrypto's X25519 (no `wg` binary needed), the
 * peers' tunnel addresses, and the `wg-quick` file an agent host brings the tunnel up with.
 *
 * @module
 */

import { formatIpv4, parseIpv4 } from "./vip.ts";

/** A key pair as WireGuard writes it: 32 bytes each, base64. */
export interface WireguardKeys {
  privateKey: string;
  publicKey: string;
}

/** PKCS#8 wrapping of a raw X25519 private key (RFC 8410): this prefix, then the 32 bytes. */
const PKCS8_X25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e];
const PKCS8_KEY = [0x04, 0x22, 0x04, 0x20];

/** Whether `text` is a WireGuard key: 32 bytes in standard base64 (44 characters). */
export function isWireguardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text);
}

/**
 * A new key pair. The private key is clamped as `wg genkey` clamps it (RFC 7748 §5).
 *
 * @example
 * ```ts
 * const { privateKey, publicKey } = await generateWireguardKeys();
 * ```
 */
export async function generateWireguardKeys(): Promise<WireguardKeys> {
  const raw = crypto.getRandomValues(new Uint8Array(32));
  raw[0] &= 248;
  raw[31] = (raw[31] & 127) | 64;
  const privateKey = base64(raw);
  return { privateKey, publicKey: await wireguardPublicKey(privateKey) };
}

/**
 * The public key of `privateKey` (what `wg pubkey` prints). Throws `TypeError` when it is not a
 * WireGuard key.
 */
export async function wireguardPublicKey(privateKey: string): Promise<string> {
  if (!isWireguardKey(privateKey)) throw new TypeError("Not a WireGuard private key");
  const raw = Uint8Array.from(atob(privateKey), (c) => c.charCodeAt(0));
  const pkcs8 = Uint8Array.from([...PKCS8_X25519, ...PKCS8_KEY, ...raw]);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, [
    "deriveBits",
  ]);
  const { x } = await crypto.subtle.exportKey("jwk", key);
  return x!.replaceAll("-", "+").replaceAll("_", "/") + "=";
}

/**
 * The peers' addresses in the tunnel's network, lowest first: every host address but the
 * gateway's own (`address`, e.g. `10.78.0.1/24`).
 */
export function* peerAddresses(address: string): Generator<string> {
  const [ip, prefix] = address.split("/");
  const own = parseIpv4(ip);
  if (own === null) throw new TypeError(`Not an IPv4 address with a prefix: '${address}'`);
  const size = 2 ** (32 - Number(prefix));
  const base = own - (own % size);
  for (let host = base + 1; host < base + size - 1; host++) {
    if (host !== own) yield formatIpv4(host);
  }
}

/** What an agent host's `wg-quick` file says. */
export interface AgentTunnel {
  /** The peer's private key; absent when the agent supplied its own public key. */
  privateKey?: string;
  /** The peer's tunnel address. */
  address: string;
  /** The gateway's DNS responder. */
  dns: string;
  gatewayPublicKey: string;
  /** `host:port` the agent host dials. */
  endpoint: string;
  /** Where the tunnel leads: the gateway's address and the virtual IPs, or everything. */
  allowedIps: string[];
}

/**
 * The agent host's `wg-quick` file. Without the private key, a line says where the agent's own
 * goes.
 *
 * @example
 * ```ts
 * wgQuickConfig({ address: "10.78.0.2", dns: "10.79.0.1", gatewayPublicKey, endpoint:
 *   "gw.example.com:51820", allowedIps: ["10.78.0.1/32", "10.79.0.0/16"], privateKey });
 * ```
 */
export function wgQuickConfig(tunnel: AgentTunnel): string {
  return [
    "# clawpatrol: this host's only route to production is the gateway.",
    "[Interface]",
    tunnel.privateKey === undefined
      ? "# PrivateKey = (the private key of the public key you enrolled)"
      : `PrivateKey = ${tunnel.privateKey}`,
    `Address = ${tunnel.address}/32`,
    `DNS = ${tunnel.dns}`,
    "",
    "[Peer]",
    `PublicKey = ${tunnel.gatewayPublicKey}`,
    `Endpoint = ${tunnel.endpoint}`,
    `AllowedIPs = ${tunnel.allowedIps.join(", ")}`,
    "PersistentKeepalive = 25",
    "",
  ].join("\n");
}

function base64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}
