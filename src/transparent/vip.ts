/**
 * Virtual IPs for transparent interception (DESIGN.md §9): every host name an endpoint claims gets
 * a stable IPv4 address from `vip_range`, so the address an agent connects to names the host it
 * asked for. Pure: no I/O, no clock.
 *
 * Placement: a name's slot is FNV-1a(name) mod the number of usable addresses; a taken slot is
 * resolved by linear probing (slot + 1, + 2, …, wrapping). Exact names are placed at construction
 * in sorted order, so the same claims always give the same addresses whatever order they came in,
 * and adding a name moves no other name unless the two collide and the new one sorts first.
 * Names under a `*.suffix` wildcard are placed when first asked for, each its own address, in the
 * slots the exact names left free; at most `maxWildcardNames` of them are kept, least recently
 * used evicted first, so a flood of random subdomains cannot grow the table.
 *
 * @module
 */

/** An IPv4 range in CIDR form, parsed. */
export interface VipRange {
  /** The network address as a uint32. */
  readonly base: number;
  readonly prefix: number;
  /** Addresses in the range, network and broadcast included. */
  readonly size: number;
  /** The first usable address, kept for the gateway's own DNS/link address: never a VIP. */
  readonly gateway: string;
}

/** The shortest prefix accepted: a larger range would swallow real networks. */
export const MIN_PREFIX = 8;
/** The longest prefix accepted: /28 leaves 13 VIPs after the reserved addresses. */
export const MAX_PREFIX = 28;
/** Offsets in the range never handed out: network (0), the gateway's own (1); broadcast is last. */
const FIRST_VIP_OFFSET = 2;

/**
 * Parses `a.b.c.d/n`. Throws `SyntaxError` for text that is not IPv4 CIDR and `RangeError` for a
 * prefix outside /8–/28 or host bits set; messages are fit for a config diagnostic.
 *
 * @example
 * ```ts
 * const range = parseVipRange("10.79.0.0/16");
 * range.gateway; // "10.79.0.1"
 * ```
 */
export function parseVipRange(text: string): VipRange {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text.trim());
  const base = m ? parseIpv4(m[1]) : null;
  if (!m || base === null) {
    throw new SyntaxError(
      `Cannot parse VIP range '${text}': expected IPv4 CIDR such as 10.79.0.0/16`,
    );
  }
  const prefix = Number(m[2]);
  if (prefix < MIN_PREFIX || prefix > MAX_PREFIX) {
    throw new RangeError(
      `Cannot use VIP range '${text}': prefix must be /${MIN_PREFIX} to /${MAX_PREFIX}`,
    );
  }
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  if (network !== base) {
    throw new RangeError(
      `Cannot use VIP range '${text}': host bits set, did you mean '${
        formatIpv4(network)
      }/${prefix}'`,
    );
  }
  return { base, prefix, size, gateway: formatIpv4(base + 1) };
}

/**
 * Dotted-quad IPv4 to uint32, or null. Strict: four decimal octets without leading zeros, since
 * `010` reads as octal to some tools and as decimal to others.
 */
export function parseIpv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

/** uint32 to dotted quad. */
export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

/** One host an endpoint claims: `api.github.com` or `*.githubusercontent.com`. */
export interface VipClaim {
  host: string;
  endpoint: string;
}

/** A name's VIP and the endpoint claiming it. */
export interface VipEntry {
  name: string;
  endpoint: string;
  vip: string;
}

/** Options for {@linkcode VipTable}. */
export interface VipTableOptions {
  /**
   * Wildcard-derived names kept at once; the least recently used is evicted (its VIP may then
   * go to another name, and a connection still using it fails the SNI check). Also limited by
   * the free addresses in the range. @default {4096}
   */
  maxWildcardNames?: number;
}

/** Lower case, trailing dot dropped: DNS names compare case-insensitively (RFC 4343). */
export function normaliseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

const LABEL = "[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?";
const HOST = new RegExp(`^(?:\\*\\.)?${LABEL}(?:\\.${LABEL})*$`);

/**
 * Host names to VIPs and back. Exact claims beat wildcards, the longest wildcard suffix wins, and
 * `*.example.com` matches `a.example.com` and `a.b.example.com` but not `example.com` (the same
 * rules as the proxy's host matching).
 *
 * @example
 * ```ts
 * const table = new VipTable(parseVipRange("10.79.0.0/16"), [
 *   { host: "api.github.com", endpoint: "github" },
 *   { host: "*.githubusercontent.com", endpoint: "github" },
 * ]);
 * const raw = table.assign("raw.githubusercontent.com")!; // { name, endpoint: "github", vip }
 * table.lookup(raw.vip)?.name; // "raw.githubusercontent.com"
 * ```
 */
export class VipTable {
  readonly range: VipRange;
  readonly #slots: number;
  readonly #maxWildcard: number;
  readonly #exact = new Map<string, VipEntry>();
  /** Wildcard suffixes with their leading dot, longest first. */
  readonly #wildcards: { suffix: string; endpoint: string }[] = [];
  /** Wildcard-derived entries; Map order is recency, oldest first. */
  readonly #derived = new Map<string, VipEntry>();
  /** Slot → name, for every entry (exact and derived). */
  readonly #bySlot = new Map<number, string>();

  /**
   * Throws `RangeError` for a claim that is not a host name or `*.suffix`, and when the range
   * has fewer usable addresses than exact names.
   */
  constructor(range: VipRange, claims: Iterable<VipClaim>, options: VipTableOptions = {}) {
    this.range = range;
    this.#slots = range.size - FIRST_VIP_OFFSET - 1;
    const exact = new Map<string, string>();
    for (const { host, endpoint } of claims) {
      const name = normaliseName(host);
      if (name.length > 253 || !HOST.test(name)) {
        throw new RangeError(`Cannot claim host '${host}': not a host name or *.suffix wildcard`);
      }
      // First claim wins, as in the proxy's matching; config reports duplicates.
      if (name.startsWith("*.")) this.#wildcards.push({ suffix: name.slice(1), endpoint });
      else if (!exact.has(name)) exact.set(name, endpoint);
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
    if (exact.size > this.#slots) {
      throw new RangeError(
        `Cannot fit ${exact.size} host names in VIP range /${range.prefix}: it has ${this.#slots} addresses`,
      );
    }
    // Sorted by code unit, so placement does not depend on the order claims were written in.
    for (const name of [...exact.keys()].sort()) {
      this.#exact.set(name, this.#place(name, exact.get(name)!));
    }
    const free = this.#slots - exact.size;
    this.#maxWildcard = Math.max(0, Math.min(options.maxWildcardNames ?? 4096, free));
  }

  /** The endpoint claiming `name`, or null. Assigns nothing. */
  claimant(name: string): string | null {
    const n = normaliseName(name);
    const exact = this.#exact.get(n);
    if (exact) return exact.endpoint;
    // Only a real host name may take a VIP: the name becomes the host the SNI must match.
    if (n.length > 253 || n.startsWith("*.") || !HOST.test(n)) return null;
    for (const w of this.#wildcards) {
      if (n.length > w.suffix.length && n.endsWith(w.suffix)) return w.endpoint;
    }
    return null;
  }

  /**
   * The VIP for `name`: an exact name's fixed one, or (under a wildcard) the name's own,
   * assigned now if it has none. Null when no endpoint claims `name`, or when wildcard names
   * cannot have any address (the exact names fill the range).
   */
  assign(name: string): VipEntry | null {
    const n = normaliseName(name);
    const exact = this.#exact.get(n);
    if (exact) return exact;
    const known = this.#touch(n);
    if (known) return known;
    const endpoint = this.claimant(n);
    if (endpoint === null || this.#maxWildcard === 0) return null;
    if (this.#derived.size >= this.#maxWildcard) this.#evictOldest();
    const entry = this.#place(n, endpoint);
    this.#derived.set(n, entry);
    return entry;
  }

  /**
   * The name and endpoint a VIP stands for, or null. A connection to a wildcard name's VIP
   * counts as use, so a name in use is not the next evicted.
   */
  lookup(vip: string): VipEntry | null {
    const ip = parseIpv4(vip);
    if (ip === null) return null;
    const name = this.#bySlot.get(ip - this.range.base - FIRST_VIP_OFFSET);
    if (name === undefined) return null;
    return this.#exact.get(name) ?? this.#touch(name);
  }

  /** Every entry held, exact names first; reading them counts as no use. */
  entries(): VipEntry[] {
    return [...this.#exact.values(), ...this.#derived.values()];
  }

  /** Entries held: exact names plus wildcard-derived ones. */
  get size(): number {
    return this.#bySlot.size;
  }

  /** Wildcard-derived entries held (at most the cap). */
  get wildcardNames(): number {
    return this.#derived.size;
  }

  /** Most wildcard-derived names kept: `maxWildcardNames`, or fewer if the range is small. */
  get wildcardCapacity(): number {
    return this.#maxWildcard;
  }

  /** Moves a derived entry to most recently used. */
  #touch(name: string): VipEntry | null {
    const entry = this.#derived.get(name);
    if (!entry) return null;
    this.#derived.delete(name);
    this.#derived.set(name, entry);
    return entry;
  }

  #evictOldest(): void {
    const [name, entry] = this.#derived.entries().next().value!;
    this.#derived.delete(name);
    this.#bySlot.delete(parseIpv4(entry.vip)! - this.range.base - FIRST_VIP_OFFSET);
  }

  /** Takes the first free slot from the name's hash, probing linearly. Callers ensure one is free. */
  #place(name: string, endpoint: string): VipEntry {
    let slot = fnv1a(name) % this.#slots;
    while (this.#bySlot.has(slot)) slot = (slot + 1) % this.#slots;
    this.#bySlot.set(slot, name);
    return { name, endpoint, vip: formatIpv4(this.range.base + FIRST_VIP_OFFSET + slot) };
  }
}

/** 32-bit FNV-1a over the name's UTF-16 code units: stable across runs and platforms. */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
