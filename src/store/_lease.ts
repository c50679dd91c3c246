/**
 * One running process per gateway id on a store. The id lives in `state_dir/gateway.id`, so a
 * copied state directory (a cloned VM, a restored backup started beside the original) would make
 * two gateways write one receipt chain and abandon each other's held requests. The first process
 * takes a lease row in `clawpatrol_gateway_leases` and heartbeats it every second; another
 * process with the same id is refused while the lease is fresh.
 *
 * A lease whose heartbeat is older than `staleAfterS` (by the store's clock) is taken over: its
 * holder is dead or cut off. One is taken over at once when it was held from the same host and
 * the same state directory: the caller holds that directory's lock, so its previous holder has
 * exited (a restart after `kill -9` does not wait for the lease to go stale).
 *
 * @module
 */

import type { Query, Sql } from "./_connect.ts";
import { settledWithin } from "./_connect.ts";

/** How long a stopping gateway waits for the store to take its lease back. */
const RELEASE_WAIT_MS = 1_000;

/** Who holds a gateway id's lease, as the refusal names it. */
export interface LeaseHolder {
  host: string | null;
  pid: number;
  stateDir: string;
  startedAt: Date;
  /** Seconds since its last heartbeat, by the store's clock. */
  silentS: number;
}

/** Thrown when another live process holds the gateway id's lease. */
export class GatewayIdInUseError extends Error {
  override name = "GatewayIdInUseError";
  readonly gateway: string;
  readonly holder: LeaseHolder;

  constructor(gateway: string, holder: LeaseHolder, display: string) {
    super(
      `Gateway id '${gateway}' is already running on the store ${display}: held by pid ` +
        `${holder.pid} on host '${holder.host ?? "unknown"}' (state_dir '${holder.stateDir}', ` +
        `last heartbeat ${holder.silentS.toFixed(1)} s ago). A copied state directory carries ` +
        `its gateway.id: give this gateway a fresh state_dir, or remove the gateway.id in its ` +
        `state_dir so it makes a new id, or stop the other process (a killed one's id is free ` +
        `10 s after its last heartbeat)`,
    );
    this.gateway = gateway;
    this.holder = holder;
  }
}

/** Options for {@linkcode GatewayLease.take}. */
export interface GatewayLeaseOptions {
  /** This gateway's state directory (absolute), as the holder is named. */
  stateDir: string;
  /** The store as the refusal names it (its URL without the password). */
  display: string;
  /** Host name recorded with the lease. @default {Deno.hostname(), or null without the grant} */
  host?: string | null;
  /** Heartbeat interval. @default {1_000} */
  heartbeatMs?: number;
  /** A lease silent this long may be taken over. @default {10} */
  staleAfterS?: number;
  /** Told once when another process took the lease over (this one should stop serving). */
  onLost?: (holder: LeaseHolder) => void;
  /** Told about each failed heartbeat (the lease stays this process's until it goes stale). */
  onError?: (error: Error) => void;
}

interface LeaseRow {
  token: string;
  host: string | null;
  pid: number;
  state_dir: string;
  started_at: Date;
  silent_s: number;
}

/** A held lease on a gateway id, heartbeated until {@linkcode GatewayLease.release}. */
export class GatewayLease {
  readonly #sql: Sql;
  readonly #gateway: string;
  readonly #token: string;
  readonly #options: GatewayLeaseOptions;
  #timer: ReturnType<typeof setInterval> | undefined;
  #beating = false;
  #lost: LeaseHolder | null = null;

  private constructor(sql: Sql, gateway: string, token: string, options: GatewayLeaseOptions) {
    this.#sql = sql;
    this.#gateway = gateway;
    this.#token = token;
    this.#options = options;
  }

  /**
   * Takes the lease on `gateway`, in one transaction, and starts heartbeating it.
   *
   * @throws {GatewayIdInUseError} when another live process holds it.
   * @example
   * ```ts
   * const lease = await GatewayLease.take(sql, "gw_1a2b3c4d5e6f7a8b", { stateDir, display });
   * await lease.release(); // at shutdown
   * ```
   */
  static async take(
    sql: Sql,
    gateway: string,
    options: GatewayLeaseOptions,
  ): Promise<GatewayLease> {
    const token = crypto.randomUUID();
    const host = options.host === undefined ? hostName() : options.host;
    const staleAfterS = options.staleAfterS ?? 10;
    await sql.begin(async (tx) => {
      const [held] = await tx<LeaseRow[]>`SELECT token, host, pid, state_dir, started_at,
          extract(epoch FROM now() - heartbeat_at)::float8 AS silent_s
        FROM clawpatrol_gateway_leases WHERE gateway = ${gateway} FOR UPDATE`;
      if (held) {
        const sameDirHere = host !== null && held.host === host &&
          held.state_dir === options.stateDir;
        if (held.silent_s < staleAfterS && !sameDirHere) {
          throw new GatewayIdInUseError(gateway, holderOf(held), options.display);
        }
      }
      await upsert(tx, gateway, { token, host, stateDir: options.stateDir });
    });
    const lease = new GatewayLease(sql, gateway, token, { ...options, host });
    const timer = setInterval(() => lease.#beat(), options.heartbeatMs ?? 1_000);
    Deno.unrefTimer(timer);
    lease.#timer = timer;
    return lease;
  }

  /** Who took the lease over from this process, or `null` while it is still this one's. */
  lost(): LeaseHolder | null {
    return this.#lost;
  }

  /**
   * Stops heartbeating and gives the lease up, so a restart takes it at once. Waits at most
   * {@linkcode RELEASE_WAIT_MS}: a stopping gateway must not hang on a store that stopped
   * answering (the lease then goes stale and is taken over, as after a crash).
   */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (this.#lost) return;
    await settledWithin(
      this.#sql`DELETE FROM clawpatrol_gateway_leases
        WHERE gateway = ${this.#gateway} AND token = ${this.#token}`,
      RELEASE_WAIT_MS,
    );
  }

  #beat(): void {
    if (this.#beating || this.#lost) return;
    this.#beating = true;
    (async () => {
      const beat = await this.#sql`UPDATE clawpatrol_gateway_leases SET heartbeat_at = now()
        WHERE gateway = ${this.#gateway} AND token = ${this.#token} RETURNING 1`;
      if (beat.length > 0) return;
      // Taken over while this process was cut off from the store for longer than staleAfterS.
      const [held] = await this.#sql<LeaseRow[]>`SELECT token, host, pid, state_dir,
          started_at, extract(epoch FROM now() - heartbeat_at)::float8 AS silent_s
        FROM clawpatrol_gateway_leases WHERE gateway = ${this.#gateway}`;
      if (!held) {
        // Deleted by hand (or by a stopping process that had taken it over): take it back,
        // unless another process takes it first (the next beat then finds that one).
        await this.#sql`INSERT INTO clawpatrol_gateway_leases (gateway, token, host, pid, state_dir)
          VALUES (${this.#gateway}, ${this.#token}, ${this.#options.host ?? null}, ${Deno.pid},
            ${this.#options.stateDir})
          ON CONFLICT (gateway) DO NOTHING`;
        return;
      }
      clearInterval(this.#timer);
      this.#lost = holderOf(held);
      this.#options.onLost?.(this.#lost);
    })().catch((err) => {
      this.#options.onError?.(err instanceof Error ? err : new Error(String(err)));
    }).finally(() => this.#beating = false);
  }
}

async function upsert(
  sql: Query,
  gateway: string,
  { token, host, stateDir }: { token: string; host: string | null; stateDir: string },
): Promise<void> {
  await sql`INSERT INTO clawpatrol_gateway_leases (gateway, token, host, pid, state_dir)
    VALUES (${gateway}, ${token}, ${host}, ${Deno.pid}, ${stateDir})
    ON CONFLICT (gateway) DO UPDATE SET token = EXCLUDED.token, host = EXCLUDED.host,
      pid = EXCLUDED.pid, state_dir = EXCLUDED.state_dir, started_at = now(),
      heartbeat_at = now()`;
}

function holderOf(row: LeaseRow): LeaseHolder {
  return {
    host: row.host,
    pid: row.pid,
    stateDir: row.state_dir,
    startedAt: new Date(row.started_at),
    silentS: Number(row.silent_s),
  };
}

/** The host's name; `null` where the permission grant does not include it. */
function hostName(): string | null {
  try {
    return Deno.hostname();
  } catch {
    return null;
  }
}
