/**
 * Agent identity from the network (DESIGN.md §9): which agent a connection's source address
 * stands for, kept in `state_dir/sources.json`. An isolated `run` namespace leases a link address
 * for its life; a tunnel peer gets its tunnel address. The gateway only reads the file; `run` and
 * `agent` write it under the same lock-and-rename discipline as the agents file, so the gateway
 * sees a new namespace's address before the command in it sends a byte.
 *
 * The address alone names the agent: whoever may write this file may make an address any agent,
 * which is why it lives in the state directory beside the agents file, with the same access.
 *
 * @module
 */

import { join } from "node:path";
import { writeFileAtomicSync } from "../core/mod.ts";
import { fileSignature, readStateFile } from "./_file.ts";
import { withFileLock } from "./_lock.ts";
import { isAgentName } from "./_token.ts";

/** File name of the source registry inside the state directory (JSON, mode 0600). */
export const SOURCES_FILE = "sources.json";

const SCHEMA_VERSION = 1;

/** How an address came to stand for an agent. */
export type SourceKind = "isolate" | "wireguard" | "static";

/** One address that names an agent. */
export interface SourceLease {
  /** The agent side's address: connections from it are the agent's. */
  address: string;
  /** The gateway side's address on the same link (its route to the gateway), when it has one. */
  peer: string | null;
  agent: string;
  kind: SourceKind;
  createdAt: string;
  /** The process holding an isolate lease, so a leftover one can be told from a live one. */
  holder: number | null;
  /** A WireGuard peer's tunnel and public key (cryptokey routing ties the address to it). */
  peerOf?: { tunnel: string; publicKey: string };
}

/** Options for {@linkcode SourceRegistry.open}. */
export interface SourceRegistryOptions {
  /** Least time between two checks of the file for another process's change. @default {100} */
  refreshIntervalMs?: number;
  /** Told when the file cannot be read (the previous contents stay in force). */
  onError?: (error: Error) => void;
  now?: () => Date;
}

/** A link address pair a lease may take: `peer` on the gateway's side, `address` on the agent's. */
export interface LinkPair {
  address: string;
  peer: string;
}

/**
 * Source addresses to agents, backed by `state_dir/sources.json`.
 *
 * @example
 * ```ts
 * const sources = SourceRegistry.open("./state");
 * sources.register("10.78.0.2", "ci-bot", "wireguard");
 * sources.agentAt("10.78.0.2"); // "ci-bot"
 * ```
 */
export class SourceRegistry {
  readonly path: string;
  readonly #refreshIntervalMs: number;
  readonly #onError: (error: Error) => void;
  readonly #now: () => Date;
  #byAddress = new Map<string, SourceLease>();
  #signature = "missing";
  #checkedAt = -Infinity;

  private constructor(path: string, options: SourceRegistryOptions) {
    this.path = path;
    this.#refreshIntervalMs = options.refreshIntervalMs ?? 100;
    this.#onError = options.onError ?? (() => {});
    this.#now = options.now ?? (() => new Date());
  }

  /** Opens (reads) the registry in `stateDir`; a missing file means no addresses yet. */
  static open(stateDir: string, options: SourceRegistryOptions = {}): SourceRegistry {
    const registry = new SourceRegistry(join(stateDir, SOURCES_FILE), options);
    registry.#install(readSources(registry.path), fileSignature(registry.path));
    return registry;
  }

  /**
   * The agent `address` stands for, or `null`. Never throws. An address not known yet is looked
   * up in the file as it is now (one stat): a namespace leased a moment ago is already there.
   */
  agentAt(address: string): string | null {
    this.#maybeReload();
    const normal = normaliseAddress(address);
    const known = this.#byAddress.get(normal);
    if (known) return known.agent;
    this.#checkedAt = -Infinity;
    this.#maybeReload();
    return this.#byAddress.get(normal)?.agent ?? null;
  }

  /** Every address held now (copies). */
  list(): SourceLease[] {
    this.#maybeReload();
    return [...this.#byAddress.values()].map((lease) => ({ ...lease }));
  }

  /**
   * Takes the first pair `pairs` offers whose addresses no lease uses, for `agent`. Returns
   * `null` when every pair is taken. Leases `stale` says are left behind (their holder and its
   * namespace gone) are dropped first.
   */
  lease(
    agent: string,
    kind: SourceKind,
    pairs: Iterable<LinkPair>,
    holder: number | null,
    stale: (lease: SourceLease) => boolean = () => false,
  ): SourceLease | null {
    checkAgent(agent);
    return this.#mutate((leases): SourceLease | null => {
      for (let i = leases.length - 1; i >= 0; i--) if (stale(leases[i])) leases.splice(i, 1);
      const used = new Set(leases.flatMap((l) => l.peer ? [l.address, l.peer] : [l.address]));
      for (const pair of pairs) {
        if (used.has(pair.address) || used.has(pair.peer)) continue;
        const lease: SourceLease = {
          ...pair,
          agent,
          kind,
          createdAt: this.#now().toISOString(),
          holder,
        };
        leases.push(lease);
        return lease;
      }
      return null;
    });
  }

  /**
   * Makes `address` stand for `agent` (a tunnel peer's fixed address). Throws when it is taken.
   * `address` may be a function picking one from the addresses taken now.
   */
  register(
    address: string | ((taken: ReadonlySet<string>) => string | null),
    agent: string,
    kind: SourceKind,
    peerOf?: SourceLease["peerOf"],
  ): SourceLease {
    checkAgent(agent);
    return this.#mutate((leases) => {
      const used = new Set(leases.flatMap((l) => l.peer ? [l.address, l.peer] : [l.address]));
      const picked = typeof address === "string" ? address : address(used);
      if (picked === null) throw new Error("No address is free");
      const normal = normaliseAddress(picked);
      const taken = leases.find((l) => l.address === normal || l.peer === normal);
      if (taken) throw new Error(`Address ${normal} already stands for agent '${taken.agent}'`);
      const lease: SourceLease = {
        address: normal,
        peer: null,
        agent,
        kind,
        createdAt: this.#now().toISOString(),
        holder: null,
        ...peerOf ? { peerOf } : {},
      };
      leases.push(lease);
      return lease;
    });
  }

  /** Frees `address`; whether it was held. */
  release(address: string): boolean {
    const normal = normaliseAddress(address);
    return this.releaseWhere((l) => l.address === normal).length > 0;
  }

  /** Frees every address `which` picks (an agent's, when it is revoked); returns them. */
  releaseWhere(which: (lease: SourceLease) => boolean): SourceLease[] {
    return this.#mutate((leases) => {
      const gone = leases.filter(which);
      if (gone.length > 0) leases.splice(0, leases.length, ...leases.filter((l) => !which(l)));
      return gone;
    });
  }

  #mutate<T>(change: (leases: SourceLease[]) => T): T {
    return withFileLock(`${this.path}.lock`, () => {
      // From the file as it is now: another process may have leased since we last read.
      const leases = readSources(this.path);
      const result = change(leases);
      writeSources(this.path, leases);
      this.#install(leases, fileSignature(this.path));
      return result;
    });
  }

  #maybeReload(): void {
    const now = performance.now();
    if (now - this.#checkedAt < this.#refreshIntervalMs) return;
    this.#checkedAt = now;
    try {
      const signature = fileSignature(this.path);
      if (signature === this.#signature) return;
      // Remembered first: a broken file is reported once, and its predecessor stays in force.
      this.#signature = signature;
      this.#install(readSources(this.path), signature);
    } catch (err) {
      try {
        this.#onError(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // A throwing handler must not make agentAt() throw.
      }
    }
  }

  #install(leases: SourceLease[], signature: string): void {
    this.#byAddress = new Map(leases.map((l) => [l.address, l]));
    this.#signature = signature;
    this.#checkedAt = performance.now();
  }
}

function checkAgent(agent: string): void {
  if (!isAgentName(agent)) throw new TypeError(`Invalid agent name '${agent}'`);
}

/** IPv4-mapped IPv6 (`::ffff:10.0.0.1`, as node reports some peers) compares as the IPv4 form. */
export function normaliseAddress(address: string): string {
  return address.toLowerCase().replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, "$1");
}

interface StoredLease {
  address: string;
  peer: string | null;
  agent: string;
  kind: SourceKind;
  created_at: string;
  holder: number | null;
  tunnel?: string;
  public_key?: string;
}

const KINDS: readonly string[] = ["isolate", "wireguard", "static"];

function readSources(path: string): SourceLease[] {
  return readStateFile(path, "sources", parseSources);
}

function parseSources(text: string): SourceLease[] {
  const doc = JSON.parse(text);
  if (doc?.schema_version !== SCHEMA_VERSION || !Array.isArray(doc.sources)) {
    throw new Error(`expected {"schema_version": 1, "sources": [...]}`);
  }
  return doc.sources.map((raw: Partial<StoredLease> | null, i: number) => {
    const where = `sources[${i}]`;
    if (typeof raw?.address !== "string" || raw.address === "") {
      throw new Error(`${where}: address must be a non-empty string`);
    }
    if (typeof raw.agent !== "string" || !isAgentName(raw.agent)) {
      throw new Error(`${where}: invalid agent ${JSON.stringify(raw.agent)}`);
    }
    if (typeof raw.kind !== "string" || !KINDS.includes(raw.kind)) {
      throw new Error(`${where}: kind must be one of ${KINDS.join(", ")}`);
    }
    return {
      address: normaliseAddress(raw.address),
      peer: typeof raw.peer === "string" ? normaliseAddress(raw.peer) : null,
      agent: raw.agent,
      kind: raw.kind as SourceKind,
      createdAt: String(raw.created_at ?? ""),
      holder: typeof raw.holder === "number" ? raw.holder : null,
      ...typeof raw.tunnel === "string" && typeof raw.public_key === "string"
        ? { peerOf: { tunnel: raw.tunnel, publicKey: raw.public_key } }
        : {},
    };
  });
}

function writeSources(path: string, leases: SourceLease[]): void {
  const stored: StoredLease[] = leases.map((l) => ({
    address: l.address,
    peer: l.peer,
    agent: l.agent,
    kind: l.kind,
    created_at: l.createdAt,
    holder: l.holder,
    ...l.peerOf ? { tunnel: l.peerOf.tunnel, public_key: l.peerOf.publicKey } : {},
  }));
  const text = JSON.stringify({ schema_version: SCHEMA_VERSION, sources: stored }, null, 2);
  writeFileAtomicSync(path, new TextEncoder().encode(text + "\n"));
}
