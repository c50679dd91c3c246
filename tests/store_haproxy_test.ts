// Two gateways behind HAProxy on one shared store (issue 24's "done when"): one enrolled agent
// reaches the upstream through the balancer while either gateway is killed with SIGKILL and
// restarted; HAProxy takes the dead one out by its /healthz. Every write the upstream saw has a
// receipt in one of the two gateways' chains (written before forwarding), and both chains verify.
import { equal, ok } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import { killHard, receiptMarkers, type Served, startUpstream, verifyLog } from "./_crash_load.ts";
import { eventually, withTempDir } from "./_helpers.ts";
import { type Balancer, freePort, haproxyAvailable, startHaproxy } from "./_haproxy.ts";
import {
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  startSharedStore,
  storeCli,
} from "./_shared_store.ts";

const WRITES_ALLOWED = `rule "api-writes" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  verdict   = "allow"
}
`;

Deno.test({
  name: "store: two gateways behind HAProxy serve one agent while either is killed",
  ignore: !postgresAvailable() || !haproxyAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    let balancer: Balancer | undefined;
    const upstream = await startUpstream();
    const served = new Map<string, Served>();
    try {
      store = await startSharedStore();
      const s = store;
      const names = ["a", "b"];
      // Fixed for the test's life, so a restarted gateway is where HAProxy looks for it.
      const ports = names.map(() => ({ proxy: freePort(), admin: freePort() }));
      const configs = await Promise.all(
        names.map((n, i) =>
          sharedGatewayDir(join(dir, n), s, { upstream, extra: WRITES_ALLOWED, ports: ports[i] })
        ),
      );
      const added = await storeCli(configs[0], store, ["agent", "add", "bot", "--profile", "bots"]);
      const bot = added.stdout.trim().split("\n").at(-1)!;
      const started = await Promise.all(configs.map((c) => serveShared(c, s)));
      names.forEach((n, i) => served.set(n, started[i]));
      // Each gateway has its own CA: the agent trusts both.
      const cas = await Promise.all(
        names.map((n) => Deno.readTextFile(join(dir, n, "state/ca.pem"))),
      );
      balancer = await startHaproxy(
        dir,
        names.map((name, i) => ({
          name,
          proxyPort: ports[i].proxy,
          adminPort: ports[i].admin,
        })),
      );
      const lb = balancer;

      // A fresh connection per request, so the balancer spreads them.
      const post = async (path: string): Promise<number> => {
        const client = Deno.createHttpClient({
          proxy: {
            url: `http://127.0.0.1:${lb.port}`,
            basicAuth: { username: "bot", password: bot },
          },
          caCerts: cas,
        });
        try {
          const res = await fetch(`https://api.test${path}`, {
            method: "POST",
            body: "x",
            client,
            signal: AbortSignal.timeout(10_000),
          });
          await res.body?.cancel();
          return res.status;
        } catch {
          return 0;
        } finally {
          client.close();
        }
      };
      const round = async (n: number, count = 10) => {
        const statuses: number[] = [];
        for (let i = 0; i < count; i++) statuses.push(await post(`/p-${n}-${i}`));
        return statuses;
      };
      const serverIs = (name: string, state: "UP" | "DOWN") =>
        eventually(
          `HAProxy to see ${name} ${state}`,
          () => new RegExp(`gateways/${name} is ${state}`).test(lb.log()) ? true : undefined,
          15_000,
        );
      const stateDir = (n: string) => join(dir, n, "state");

      equal((await round(1)).join(), Array(10).fill(200).join(), "both up");
      for (const n of names) {
        ok([...receiptMarkers(stateDir(n))].some((m) => m.startsWith("p-1-")), `${n} served none`);
      }

      for (const [victim, survivor] of [["a", "b"], ["b", "a"]]) {
        await killHard(served.get(victim)!);
        // Before HAProxy notices, a refused connection is redispatched to the survivor.
        const during = await round(2, 5);
        await serverIs(victim, "DOWN");
        const after = await round(3, 10);
        equal(after.join(), Array(10).fill(200).join(), `${victim} dead, ${survivor} serves`);
        ok(during.every((s) => s === 200), `while ${victim} was dying: ${during.join()}`);
        // Back on the same ports, with its own state: HAProxy brings it in again.
        const i = names.indexOf(victim);
        served.set(victim, await serveShared(configs[i], s));
        await eventually(
          `HAProxy to see ${victim} UP again`,
          () => lb.log().split(`gateways/${victim} is UP`).length > 1 ? true : undefined,
          15_000,
        );
        equal((await round(4)).join(), Array(10).fill(200).join(), `${victim} restarted`);
      }

      // Writes are recorded before they are forwarded: whatever the upstream saw has a receipt
      // in one of the chains, kills or not.
      const recorded = new Set([
        ...receiptMarkers(stateDir("a")),
        ...receiptMarkers(stateDir("b")),
      ]);
      const seen = upstream.seen.filter((r) => r.method === "POST").map((r) => r.path.slice(1));
      ok(seen.length >= 40, `the upstream saw ${seen.length} writes`);
      const missing = seen.filter((m) => !recorded.has(m));
      equal(missing.join(), "", "writes the upstream saw without a receipt");
      for (const config of configs) {
        const verified = await verifyLog(config);
        equal(verified.code, 0, verified.stdout + verified.stderr);
      }
      // And the store's copy of both chains, written across the kills, verifies on its own.
      const copied = await storeCli(configs[0], s, ["store", "verify"]);
      equal(copied.code, 0, copied.stdout + copied.stderr);
      equal(
        copied.stdout.match(/: ok: \d+ receipts, \d+ outcomes, hash chains intact/g)?.length,
        2,
        copied.stdout,
      );
    } finally {
      await balancer?.stop();
      for (const s of served.values()) await s.gw.stop().catch(() => s.gw.dispose());
      await store?.stop();
      await upstream.close();
    }
  });
});
