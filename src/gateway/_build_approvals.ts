/**
 * The approval chains of a config, built again on each reload over the gateway's one queue.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import { type ApprovalQueue, Approvals } from "../approvals/mod.ts";
import type { Logger } from "./log.ts";
import type { SecretCache } from "./_secrets.ts";
import { sharedVerdictsFor } from "./_shared_state.ts";

/** The approval chains of `config`, over the gateway's queue and secrets. */
export function buildApprovals(
  config: Config,
  { queue, secrets, log }: { queue: ApprovalQueue; secrets: SecretCache; log: Logger },
): Approvals {
  return new Approvals(config, {
    queue,
    secret: (name, slot) => secrets.get(name, slot),
    fetch: globalThis.fetch,
    log: (level, message, fields) => log.log(level, message, fields as Record<string, unknown>),
    // With a store: verdicts an LLM judge gave on any gateway of it.
    verdicts: sharedVerdictsFor(queue),
  });
}
