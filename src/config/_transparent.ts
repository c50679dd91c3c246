/**
 * `gateway { transparent { … } }`: interception without proxy settings (DESIGN.md §9). The
 * gateway answers DNS for its agents, each endpoint name mapped to a stable virtual IP from
 * `vip_range`; the range's first usable address is the gateway's own.
 *
 * @module
 */

import { parseVipRange, type VipRange } from "../transparent/mod.ts";
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
    const vips = rangeOf(tr, "vip_range", vipRange);
    // Isolated runs' links: a /31 each, out of the virtual IPs' way.
    const linkRange = tr.string("link_range") ?? DEFAULT_LINK_RANGE;
    const links = rangeOf(tr, "link_range", linkRange);
    if (vips && links && overlaps(vips, links)) {
      tr.problem(`link_range '${linkRange}' overlaps vip_range '${vipRange}'`, "link_range");
    }
    // Listening above 1024 needs no privilege: the root step maps the agents' ports there.
    const portOffset = tr.integer("port_offset", 0);
    if (portOffset < 0 || portOffset > 60_000) {
      tr.problem(`port_offset ${portOffset} must be 0 to 60000`, "port_offset");
    }
    // By default the resolver agents are given is the gateway's own address in the range.
    const dnsListen = tr.hostPort("dns_listen") ??
      (vips ? `${vips.gateway}:${53 + portOffset}` : undefined);
    tr.reportUnknown();
    if (occurrence === 0 && vipRange !== undefined && dnsListen !== undefined) {
      read = { vipRange, dnsListen, linkRange, portOffset };
    }
  });
  return read;
}

/** Where isolated runs' links come from when the block does not say. */
export const DEFAULT_LINK_RANGE = "10.77.0.0/16";

function rangeOf(
  tr: BlockReader,
  field: string,
  text: string | undefined,
): VipRange | undefined {
  if (text === undefined) return undefined;
  try {
    return parseVipRange(text);
  } catch (err) {
    tr.problem((err as Error).message.replace("VIP range", field), field);
    return undefined;
  }
}

function overlaps(a: VipRange, b: VipRange): boolean {
  return a.base < b.base + b.size && b.base < a.base + a.size;
}
