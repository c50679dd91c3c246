/**
 * Two gateways on one shared store for the approval tests (issue 24): agent `bot` enrolled
 * through the store, both serving, stopped with the store and the upstream afterwards; and the
 * held POST and admin API calls those tests make on either gateway.
 *
 * @module
 */

import { equal } from "node:assert/strict";
import { join } from "node:path";
import { type Served, type Upstream } from "./_crash_load.ts";
import {
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  storeCli,
  withSharedStore,
} from "./_shared_store.ts";

/** One of the two gateways: its config, process, CA and admin token. */
export interface Gw {
  config: string;
  served: Served;
  ca: string;
  token: string;
}

/** What the two gateways get beyond the shared store. */
export interface TwoGatewayOptions {
  /** Config blocks both gateways get (approvers, rules). */
  extra: string;
  /** Runs on each gateway's directory before it serves (vault values, say). */
  prepare?: (dir: string) => Promise<void>;
}

/** Two gateways on one store, agent `bot` enrolled; `fn` runs with both, then all is stopped. */
export async function withTwoGateways(
  options: TwoGatewayOptions,
  fn: (a: Gw, b: Gw, store: SharedStore, upstream: Upstream, bot: string) => Promise<void>,
): Promise<void> {
  await withSharedStore(async ({ dir, store: s, upstream, served }) => {
    const configs = await Promise.all(
      ["a", "b"].map((n) => sharedGatewayDir(join(dir, n), s, { upstream, extra: options.extra })),
    );
    for (const n of ["a", "b"]) await options.prepare?.(join(dir, n));
    const added = await storeCli(configs[0], s, ["agent", "add", "bot", "--profile", "bots"]);
    equal(added.code, 0, added.stderr);
    served.push(...await Promise.all(configs.map((c) => serveShared(c, s))));
    const [a, b] = await Promise.all(["a", "b"].map(async (n, i) => ({
      config: configs[i],
      served: served[i],
      ca: await Deno.readTextFile(join(dir, n, "state/ca.pem")),
      token: (await Deno.readTextFile(join(dir, n, "state/admin.token"))).trim(),
    })));
    await fn(a, b, s, upstream, added.stdout.trim().split("\n").at(-1)!);
  });
}

/** A POST through `gw` as `bot`, which the rule holds; resolves with the agent's answer. */
export async function heldPost(gw: Gw, bot: string, path: string): Promise<number> {
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${gw.served.proxyPort}`,
      basicAuth: { username: "bot", password: bot },
    },
    caCerts: [gw.ca],
  });
  try {
    const res = await fetch(`https://api.test${path}`, {
      method: "POST",
      body: "x",
      client,
      signal: AbortSignal.timeout(60_000),
    });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

/** The admin API of `gw`: GET, or POST a decision. */
export async function admin(
  gw: Gw,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${gw.served.admin}${path}`, {
    method: body === undefined ? "GET" : "POST",
    headers: { authorization: `Bearer ${gw.token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}
