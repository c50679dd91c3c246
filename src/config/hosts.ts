/**
 * Which endpoint claims a host name.
 *
 * @module
 */

import type { Endpoint } from "./types.ts";

/**
 * Matches host names to endpoints: an exact name beats any `*.suffix` wildcard, and among
 * wildcards the longest suffix wins. Case-insensitive; a trailing dot is ignored. A wildcard
 * `*.example.com` matches `a.example.com` and `a.b.example.com` but not `example.com` itself.
 * The hosts are the ones endpoints claim (`Endpoint.hosts`); an endpoint claiming none never
 * matches.
 *
 * @example
 * ```ts
 * const hosts = new HostMatcher([github]);
 * hosts.match("API.GitHub.com")?.name; // "github"
 * ```
 */
export class HostMatcher<E extends Endpoint = Endpoint> {
  readonly #exact = new Map<string, E>();
  /** Wildcard suffixes (with leading dot), longest first. */
  readonly #wildcards: { suffix: string; endpoint: E }[] = [];

  constructor(endpoints: Iterable<E>) {
    for (const endpoint of endpoints) {
      for (const host of endpoint.hosts ?? []) {
        const h = normalise(host);
        if (h.startsWith("*.")) this.#wildcards.push({ suffix: h.slice(1), endpoint });
        else if (!this.#exact.has(h)) this.#exact.set(h, endpoint);
      }
    }
    this.#wildcards.sort((a, b) => b.suffix.length - a.suffix.length);
  }

  /** The endpoint claiming `host`, or `undefined` when none does. */
  match(host: string): E | undefined {
    const h = normalise(host);
    const exact = this.#exact.get(h);
    if (exact) return exact;
    for (const w of this.#wildcards) {
      if (h.length > w.suffix.length && h.endsWith(w.suffix)) return w.endpoint;
    }
    return undefined;
  }
}

function normalise(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}
