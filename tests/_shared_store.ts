/**
 * Gateways on a shared store (issue 24) for tests: a throwaway PostgreSQL with a `clawpatrol`
 * role and database, reached through a relay the test can make hang (a store that is down or
 * too slow to answer), gateway directories whose configs name that store, and `serve` with the
 * store's password in `CLAWPATROL_STORE_PASSWORD` (never in argv or the config).
 *
 * @module
 */

import { join } from "node:path";
import { createState } from "../src/gateway/mod.ts";
import { DEFAULT_SLOT, openVault } from "../src/credentials/mod.ts";
import { type PgCluster, startPostgres } from "./_postgres.ts";
import { cli, type CliResult, eventually, Running, withTempDir } from "./_helpers.ts";
import { type Served, startUpstream, type Upstream } from "./_crash_load.ts";

/** A TCP relay to the store that can stop answering. */
export class StoreRelay {
  readonly port: number;
  readonly #listener: Deno.Listener;
  readonly #target: number;
  #holding = false;
  readonly #open = new Set<Deno.Conn>();

  constructor(target: number) {
    this.#target = target;
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accept();
  }

  /**
   * From now on the store hangs: open connections are cut, new ones are accepted and never
   * answered (what a dead host behind a load balancer, or a stuck server, looks like).
   */
  hold(): void {
    this.#holding = true;
    this.#dropAll();
  }

  /** The store answers again; connections held meanwhile are cut so clients reconnect. */
  pass(): void {
    this.#holding = false;
    this.#dropAll();
  }

  close(): void {
    this.#listener.close();
    this.#dropAll();
  }

  #dropAll(): void {
    for (const conn of this.#open) {
      try {
        conn.close();
      } catch {
        // Closed by its other side already.
      }
    }
    this.#open.clear();
  }

  async #accept(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        this.#open.add(conn);
        if (this.#holding) continue;
        this.#relay(conn).catch(() => {});
      }
    } catch {
      // Closed.
    }
  }

  async #relay(client: Deno.Conn): Promise<void> {
    const server = await Deno.connect({ hostname: "127.0.0.1", port: this.#target });
    this.#open.add(server);
    const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
      try {
        await from.readable.pipeTo(to.writable);
      } catch {
        // Either side cut: close both below.
      }
      for (const c of [from, to]) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
        this.#open.delete(c);
      }
    };
    await Promise.all([pipe(client, server), pipe(server, client)]);
  }
}

/** The shared store: PostgreSQL, its relay, and how gateways reach it. */
export interface SharedStore {
  pg: PgCluster;
  relay: StoreRelay;
  /** `gateway.store` (through the relay; no password in it). */
  url: string;
  /** The `clawpatrol` role's password, for `CLAWPATROL_STORE_PASSWORD`. */
  password: string;
  /** The environment a gateway or CLI on this store needs. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts PostgreSQL with role and database `clawpatrol`, behind a relay. */
export async function startSharedStore(): Promise<SharedStore> {
  const pg = await startPostgres();
  try {
    const password = `pw-${crypto.randomUUID()}`;
    await pg.sql(`CREATE ROLE clawpatrol LOGIN PASSWORD '${password}'`);
    await pg.sql(`CREATE DATABASE clawpatrol OWNER clawpatrol`);
    const relay = new StoreRelay(pg.port);
    return {
      pg,
      relay,
      url: `postgres://clawpatrol@127.0.0.1:${relay.port}/clawpatrol?sslmode=disable`,
      password,
      env: { CLAWPATROL_STORE_PASSWORD: password },
      stop: async () => {
        relay.close();
        await pg.stop();
      },
    };
  } catch (err) {
    await pg.stop();
    throw err;
  }
}

/** What {@linkcode sharedGatewayDir} writes besides the store. */
export interface SharedGatewayOptions {
  upstream: Upstream;
  /** More blocks (rules, approvers, endpoints, credentials). */
  extra?: string;
  /** Where the proxy and admin API listen. @default {port 0 each} */
  ports?: { proxy: number; admin: number };
  /** Credentials of profile `bots`, as references (`postgres_credential.db_rw`). */
  credentials?: string[];
  /** Vault values to store, by credential name. */
  secrets?: Record<string, string>;
}

/**
 * Writes `dir/gateway.hcl` on `store` (own state directory, endpoint `https.api` → the upstream,
 * reads allowed, profile `bots`, plus what `options` adds) and creates its state.
 */
export async function sharedGatewayDir(
  dir: string,
  store: SharedStore,
  options: SharedGatewayOptions,
): Promise<string> {
  const { upstream, extra = "", ports = { proxy: 0, admin: 0 } } = options;
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "upstream-ca.pem"), upstream.caPem);
  const stateDir = join(dir, "state");
  const config = join(dir, "gateway.hcl");
  await Deno.writeTextFile(
    config,
    `schema_version = 1
gateway {
  state_dir    = "${stateDir}"
  proxy_listen = "127.0.0.1:${ports.proxy}"
  admin_listen = "127.0.0.1:${ports.admin}"
  store        = "${store.url}"
}
endpoint "https" "api" {
  hosts    = ["api.test"]
  upstream = "127.0.0.1:${upstream.port}"
  ca_cert  = "<<file:upstream-ca.pem>>"
}
rule "api-all" {
  endpoint  = https.api
  condition = "http.method != 'post'"
  verdict   = "allow"
}
${extra}profile "bots" {
  endpoints   = [https.api]
  credentials = [${(options.credentials ?? []).join(", ")}]
}
`,
  );
  await createState(stateDir, false);
  const vault = await openVault(stateDir);
  try {
    for (const [name, value] of Object.entries(options.secrets ?? {})) {
      await vault.set(name, DEFAULT_SLOT, value);
    }
  } finally {
    vault.close();
  }
  return config;
}

/** `clawpatrol ARGS -c config` with the store's password in the environment. */
export function storeCli(config: string, store: SharedStore, args: string[]): Promise<CliResult> {
  return cli([...args, "-c", config], { env: store.env });
}

/** Spawns `serve` on `config` and resolves once its `/healthz` answers 200. */
export async function serveShared(config: string, store: SharedStore): Promise<Served> {
  const gw = Running.spawn(["serve", "-c", config], { env: store.env });
  try {
    const line = (await gw.waitFor(/serving: .*/, 30_000))[0];
    const admin = line.match(/admin on (http:\/\/[\d.]+:\d+)/)![1];
    const proxyPort = Number(line.match(/proxy on http:\/\/[\d.]+:(\d+)/)![1]);
    const pg = line.match(/postgres db on [\d.]+:(\d+)/);
    await eventually("the gateway's /healthz to answer 200", async () => {
      const res = await fetch(`${admin}/healthz`, { signal: AbortSignal.timeout(2_000) });
      await res.body?.cancel();
      return res.status === 200 ? true : undefined;
    }, 15_000);
    return { gw, admin, proxyPort, pgPort: pg ? Number(pg[1]) : undefined };
  } catch (err) {
    await gw.dispose();
    throw err;
  }
}

/**
 * The status of one GET through `served`'s proxy as `name:token`; 0 when the proxy refused the
 * tunnel (an unknown, revoked or rotated-away agent: fetch reports the 407 as an error).
 */
export async function getAs(
  served: Served,
  caPem: string,
  name: string,
  token: string,
): Promise<number> {
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${served.proxyPort}`,
      basicAuth: { username: name, password: token },
    },
    caCerts: [caPem],
  });
  try {
    const res = await fetch("https://api.test/x", { client, signal: AbortSignal.timeout(10_000) });
    await res.body?.cancel();
    return res.status;
  } catch {
    return 0;
  } finally {
    client.close();
  }
}

/** What {@linkcode withSharedStore} lends its test. */
export interface SharedStoreTest {
  /** A temporary directory, removed afterwards. */
  dir: string;
  store: SharedStore;
  upstream: Upstream;
  /** Gateways the test started: each is stopped (or disposed, if stopping fails) afterwards. */
  served: Served[];
}

/**
 * Runs `fn` with a temporary directory, an upstream and a shared store; afterwards stops the
 * gateways it put in `served`, then the store and the upstream, whatever `fn` did.
 */
export async function withSharedStore(fn: (t: SharedStoreTest) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    const upstream = await startUpstream();
    const served: Served[] = [];
    try {
      store = await startSharedStore();
      await fn({ dir, store, upstream, served });
    } finally {
      for (const g of served) await g.gw.stop().catch(() => g.gw.dispose());
      await store?.stop();
      await upstream.close();
    }
  });
}

/** Two gateways on `t.store`, configs `dir/a` and `dir/b`, served and in `t.served`. */
export interface GatewayPair {
  /** The two configs' paths, for `storeCli` and `cli`. */
  a: string;
  b: string;
  gwA: Served;
  gwB: Served;
  /** Each gateway's CA, for clients of its proxy. */
  caA: string;
  caB: string;
}

/**
 * Makes and serves two gateways on one shared store. Both start on the same (possibly empty)
 * database at once, so the migration runs under its lock.
 */
export async function serveGatewayPair(t: SharedStoreTest): Promise<GatewayPair> {
  const { dir, store, upstream, served } = t;
  const a = await sharedGatewayDir(join(dir, "a"), store, { upstream });
  const b = await sharedGatewayDir(join(dir, "b"), store, { upstream });
  const [gwA, gwB] = await Promise.all([serveShared(a, store), serveShared(b, store)]);
  served.push(gwA, gwB);
  const caA = await Deno.readTextFile(join(dir, "a/state/ca.pem"));
  const caB = await Deno.readTextFile(join(dir, "b/state/ca.pem"));
  return { a, b, gwA, gwB, caA, caB };
}
