/**
 * `gateway { transparent { … } }`: interception without proxy settings (DESIGN.md §9). The
 * gateway answers DNS for its agents, each endpoint name mapped to a stable virtual IP from
 * `vip_range`; the range's first usable address is the gateway's own.
 *
 * @module
 */

import { parseVipRange } from "../transparent/mod.ts";
import type { BlockReader } from "./_fields.ts";
import type { TransparentConfig } from "./types.ts";

/** Reads the nested `transparent` block of `gateway`, or `undefined` when there is none. */
export function readTransparent(r: BlockReader): TransparentConfig | undefined {
  const raw = r.raw("transparent");
  if (raw === undefined) return undefined;
  const bodies = Array.isArray(raw) ? raw : [raw];
  let read: TransparentConfig | undefined;
  bodies.forEach((body, occurrence) => {
    const tr = r.nested("transparent", body, occurrence);
    if (occurrence > 0) tr.problem("defined more than once in one gateway block");
    const vipRange = tr.required("vip_range");
    let gateway: string | undefined;
    if (vipRange !== undefined) {
      try {
        gateway = parseVipRange(vipRange).gateway;
      } catch (err) {
        tr.problem((err as Error).message, "vip_range");
      }
    }
    // By default the resolver agents are given is the gateway's own address in the range.
    const dnsListen = tr.hostPort("dns_listen") ?? (gateway ? `${gateway}:53` : undefined);
    tr.reportUnknown();
    if (occurrence === 0 && vipRange !== undefined && dnsListen !== undefined) {
      read = { vipRange, dnsListen };
    }
  });
  return read;
}
