/**
 * Transparent interception's pure core (DESIGN.md §9): virtual IPs for the hosts endpoints claim,
 * and the DNS answers that hand them to agents. The socket side is `net/dns_server.ts`.
 *
 * @module
 */

export {
  formatIpv4,
  MAX_PREFIX,
  MIN_PREFIX,
  normaliseName,
  parseIpv4,
  parseVipRange,
  type VipClaim,
  type VipEntry,
  type VipRange,
  VipTable,
  type VipTableOptions,
} from "./vip.ts";
export {
  ANSWER_TTL_S,
  type DnsContext,
  type DnsEvent,
  type DnsResult,
  MAX_PASSTHROUGH_ADDRESSES,
  type Passthrough,
  respond,
  respondResolving,
  type UnknownHost,
} from "./dns.ts";
export {
  type AgentTunnel,
  generateWireguardKeys,
  isWireguardKey,
  peerAddresses,
  wgQuickConfig,
  type WireguardKeys,
  wireguardPublicKey,
} from "./wireguard.ts";
