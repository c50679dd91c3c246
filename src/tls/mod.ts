/**
 * The gateway's TLS material: the CA kept in the state directory and the per-host leaf
 * certificates it signs so the gateway can terminate agents' TLS.
 *
 * @example
 * ```ts
 * import { createGatewayCa, loadGatewayCa, mintLeaf } from "./src/tls/mod.ts";
 *
 * await createGatewayCa("./state");
 * const ca = await loadGatewayCa("./state");
 * const leaf = await mintLeaf(ca, "api.github.com");
 * ```
 *
 * @module
 */
export {
  CA_CERT_FILE,
  CA_KEY_FILE,
  createGatewayCa,
  type CreateGatewayCaOptions,
  type GatewayCa,
  loadGatewayCa,
  type LoadGatewayCaOptions,
  readGatewayCaKey,
} from "./ca.ts";
export { LEAF_VALID_DAYS, type LeafCertificate, mintLeaf } from "./leaf.ts";
export { LeafCache, type LeafCacheOptions } from "./cache.ts";
