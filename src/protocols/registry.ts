/**
 * The one list of protocol families. Adding a protocol is its folder plus one line here: config
 * reads `endpoint "<family>"` blocks, policy type-checks rules against the facets, audit accepts
 * receipts of exactly the families listed and `clawpatrol test` derives fixture facts, all from
 * this list passed to them as data (the gateway, the composition root, passes it).
 *
 * @example
 * ```ts
 * import { PROTOCOLS } from "./src/protocols/registry.ts";
 * import { loadConfig } from "./src/config/mod.ts";
 * import { compilePolicy } from "./src/policy/mod.ts";
 *
 * const config = await loadConfig("gateway.hcl", { protocols: PROTOCOLS });
 * const policy = compilePolicy(config, { protocols: PROTOCOLS });
 * ```
 *
 * @module
 */

import type { Protocol, ProtocolFamily } from "../core/mod.ts";
import { HTTPS_PROTOCOL } from "./http/mod.ts";
import { POSTGRES_PROTOCOL } from "./postgres/mod.ts";
import { KUBERNETES_PROTOCOL } from "./kubernetes/mod.ts";
import { AWS_PROTOCOL } from "./aws/mod.ts";

/** Every registered protocol, in the order error messages list them. */
export const PROTOCOLS: readonly Protocol[] = Object.freeze([
  HTTPS_PROTOCOL,
  POSTGRES_PROTOCOL,
  KUBERNETES_PROTOCOL,
  AWS_PROTOCOL,
]);

/** The registered protocol of a family, or `undefined` when none is registered under it. */
export function protocolOf(family: ProtocolFamily): Protocol | undefined {
  return PROTOCOLS.find((p) => p.family === family);
}
