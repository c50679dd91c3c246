/**
 * A reload opens, moves and closes endpoint listeners without a restart, against a real
 * PostgreSQL and the fake Kubernetes API server: an added endpoint serves, a moved one serves at
 * its new address only, a removed one's address refuses and its open session ends (a statement
 * in flight is cancelled upstream and its receipt completed), and a listener whose port is taken
 * is an error naming endpoint, address and `file:line` while everything else keeps serving.
 */

import { deepStrictEqual as equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { query } from "../src/protocols/postgres/_encode.ts";
import { pgClusterTest, RO_PASSWORD } from "./_pg_fixture.ts";
import { RawPg, types } from "./_pg_raw.ts";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { closedPort, eventually, withTimeout } from "./_helpers.ts";
import { startFakeApiServer } from "./_k8s_apiserver.ts";
import { CA_CERT_FILE } from "../src/tls/mod.ts";

/** Every Postgres endpoint name a test may configure; each has its credential in the vault. */
const PG_NAMES = ["pga", "pgb", "pgc"];

/** A config with one Postgres endpoint per `listens` entry, all reachable and all allowed. */
function pgConfig(upstream: number, listens: Record<string, string>): string {
  const names = Object.keys(listens);
  const endpoints = names.map((name) =>
    `endpoint "postgres" "${name}" {
  host    = "127.0.0.1:${upstream}"
  sslmode = "disable"
  listen  = "${listens[name]}"
}
credential "postgres_credential" "${name}_ro" {
  endpoint = postgres.${name}
  user     = "agent_ro"
}
`
  ).join("");
  const credentials = names.map((n) => `postgres_credential.${n}_ro`).join(", ");
  const allowed = names.map((n) => `postgres.${n}`).join(", ");
  return `${gatewayHeader()}${endpoints}
profile "bots" {
  credentials = [${credentials}]
}
${
    names.length === 0 ? "" : `rule "all" {
  endpoints = [${allowed}]
  condition = "true"
  verdict   = "allow"
}`
  }
`;
}

/** The 1-based line of `listen` in endpoint `name`'s block of `text`. */
function listenLine(text: string, name: string): number {
  const lines = text.split("\n");
  const block = lines.findIndex((l) => l.startsWith(`endpoint "postgres" "${name}"`));
  return lines.findIndex((l, i) => i > block && /^\s*listen\s*=/.test(l)) + 1;
}

/** Whether `port` on loopback accepts connections. */
async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.ConnectionRefused) return false;
    throw err;
  }
}

/** Logs in as the agent on `port`, runs `select 1`, and logs out. */
async function selectOne(port: number, token: string): Promise<string> {
  const c = await RawPg.login(port, "agent_ro", token);
  try {
    await c.send(query("select 1"));
    return types(await c.untilReady());
  } finally {
    c.close();
  }
}

/** Whether a backend other than this lookup runs a query containing `marker`. */
async function runningUpstream(sql: (q: string) => Promise<string>, marker: string) {
  const out = await sql(
    `select count(*) from pg_stat_activity where query like '%${marker}%' and pid <> pg_backend_pid()`,
  );
  return Number(out.trim()) > 0;
}

function port(gateway: Gateway, name: string): number | undefined {
  return gateway.listenerAddresses("postgres").get(name)?.port;
}

function restartWarnings(log: MemoryLogger): string[] {
  return log.messages("warn").filter((m) => m.includes("restart"));
}

pgClusterTest("a reload opens, moves and closes Postgres listeners", async (t, cluster) => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_reload_listeners_" });
  const path = join(dir, "gateway.hcl");
  const secrets = Object.fromEntries(PG_NAMES.map((n) => [`${n}_ro`, RO_PASSWORD]));
  const { gateway, log, token, registry } = await startTestGateway(
    dir,
    pgConfig(cluster.port, { pga: "127.0.0.1:0" }),
    secrets,
    { name: "bot", profile: "bots" },
  );
  const reload = async (listens: Record<string, string>) => {
    await Deno.writeTextFile(path, pgConfig(cluster.port, listens));
    ok(await gateway.reload(), log.messages("error").join("\n"));
  };
  try {
    const pga = port(gateway, "pga")!;
    // A session on an endpoint no reload touches: it carries on through all of them.
    const bystander = await RawPg.login(pga, "agent_ro", token);

    await t.step("an endpoint added by a reload serves without a restart", async () => {
      await reload({ pga: "127.0.0.1:0", pgb: "127.0.0.1:0" });
      const pgb = port(gateway, "pgb");
      ok(pgb, "the added endpoint has a listener");
      equal(await selectOne(pgb, token), "T D C Z");
      equal(port(gateway, "pga"), pga, "an unchanged endpoint keeps its listener");
      equal(restartWarnings(log), []);
    });

    await t.step("revoking an agent ends its session on a listener a reload opened", async () => {
      const revoked = registry.add("rev", "bots");
      // The gateway sees a new agent once it re-reads the agents file.
      const c = await eventually(
        "a login as rev",
        () => RawPg.login(port(gateway, "pgb")!, "agent_ro", revoked),
      );
      registry.revoke("rev");
      const seen = await withTimeout(c.untilClosed(), 10_000, "the revoked session to end");
      equal(seen.find((s) => s.type === "E")?.code, "57P01");
    });

    await t.step("a moved listen: the old address refuses, the new one serves", async () => {
      const old = port(gateway, "pgb")!;
      const moved = closedPort();
      await reload({ pga: "127.0.0.1:0", pgb: `127.0.0.1:${moved}` });
      equal(port(gateway, "pgb"), moved);
      equal(await accepts(old), false, "the old address refuses");
      equal(await selectOne(moved, token), "T D C Z");
      ok(
        log.messages("info").includes(
          `postgres listener pgb on 127.0.0.1:${old} closed: listen is now '127.0.0.1:${moved}'`,
        ),
      );
      equal(restartWarnings(log), []);
    });

    await t.step(
      "a removed endpoint: its address refuses; its open session ends, the statement in flight cancelled with a receipt",
      async () => {
        const pgb = port(gateway, "pgb")!;
        const c = await RawPg.login(pgb, "agent_ro", token);
        await c.send(query("select pg_sleep(60) as removed_sleep"));
        await eventually(
          "the sleep running upstream",
          async () => (await runningUpstream((q) => cluster.sql(q), "removed_sleep")) || undefined,
        );
        await reload({ pga: "127.0.0.1:0" });
        // The session is told why, as Postgres ends a session (FATAL 57P01), with its receipt.
        const seen = await withTimeout(c.untilClosed(), 10_000, "the session to end");
        const fatal = seen.find((s) => s.type === "E");
        equal(fatal?.code, "57P01");
        equal(await accepts(pgb), false, "the removed endpoint's address refuses");
        equal(port(gateway, "pgb"), undefined);
        await eventually(
          "the sleep cancelled upstream",
          async () =>
            (await runningUpstream((q) => cluster.sql(q), "removed_sleep")) ? undefined : true,
        );
        await gateway.settled();
        equal(gateway.guard.open, 0, "no allowed action is left open");
        const receipts = await queryReceipts(join(dir, "state", "receipts.db"));
        const sleep = receipts.find((r) => r.summary.includes("removed_sleep"));
        equal([sleep?.endpoint, sleep?.verdict], ["pgb", "allow"]);
        ok(sleep?.outcome?.error, `the in-flight statement's receipt says it was cut short`);
        const why = "the endpoint's listener closed: endpoint removed";
        ok(
          receipts.some((r) =>
            r.endpoint === "pgb" && r.summary === "session ended" && r.reason === why
          ),
          "the ended session's receipt says why",
        );
        ok(log.messages("info").some((m) => m.endsWith("closed: endpoint removed")));
      },
    );

    await t.step(
      "a listener whose port is taken: an error naming endpoint, address and line; the others serve; the next reload retries it",
      async () => {
        const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
        const address = `127.0.0.1:${taken.addr.port}`;
        const listens = { pga: "127.0.0.1:0", pgb: "127.0.0.1:0", pgc: address };
        try {
          await reload(listens);
          const line = listenLine(pgConfig(cluster.port, listens), "pgc");
          match(
            log.messages("error").join("\n"),
            new RegExp(
              `Cannot listen on endpoint "postgres" "pgc" listen '${address}': .*in use.*: change listen in ${path}:${line}, or stop what listens on port ${taken.addr.port}`,
              "i",
            ),
          );
          equal(port(gateway, "pgc"), undefined);
          equal(await selectOne(port(gateway, "pga")!, token), "T D C Z");
          equal(await selectOne(port(gateway, "pgb")!, token), "T D C Z", "added by this reload");
          equal(
            gateway.health.report().problems.map((p) => [p.component, p.level]),
            [["listen:postgres:pgc", "degraded"]],
          );
        } finally {
          taken.close();
        }
        await reload(listens);
        equal(port(gateway, "pgc"), taken.addr.port);
        equal(await selectOne(taken.addr.port, token), "T D C Z");
        equal(gateway.health.report().status, "ok");
      },
    );

    await t.step("the session on the untouched endpoint was never interrupted", async () => {
      await bystander.send(query("select 1"));
      equal(types(await bystander.untilReady()), "T D C Z");
      bystander.close();
    });
  } finally {
    await gateway.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name: "a reload opens and closes Kubernetes listeners",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const api = await startFakeApiServer();
    const dir = await Deno.makeTempDir({ prefix: "clawpatrol_reload_k8s_" });
    const path = join(dir, "gateway.hcl");
    const k8sConfig = (names: string[]) =>
      `${gatewayHeader()}${
        names.map((name) =>
          `endpoint "kubernetes" "${name}" {
  server  = "${api.url}"
  listen  = "127.0.0.1:0"
  ca_cert = "<<file:apiserver-ca.pem>>"
}
`
        ).join("")
      }
credential "k8s_bearer_token" "k8s_token" {
  endpoints = [${names.map((n) => `kubernetes.${n}`).join(", ")}]
}
profile "ops" {
  credentials = [k8s_bearer_token.k8s_token]
}
rule "all" {
  endpoints = [${names.map((n) => `kubernetes.${n}`).join(", ")}]
  condition = "true"
  verdict   = "allow"
}
`;
    try {
      await Deno.writeTextFile(join(dir, "apiserver-ca.pem"), api.caPem);
      const { gateway, log, token } = await startTestGateway(
        dir,
        k8sConfig(["one"]),
        { k8s_token: api.token },
        { name: "bot", profile: "ops" },
      );
      const caPem = await Deno.readTextFile(join(dir, "state", CA_CERT_FILE));
      const pods = async (port: number) => {
        const client = Deno.createHttpClient({ caCerts: [caPem] });
        try {
          const res = await fetch(`https://127.0.0.1:${port}/api/v1/namespaces/default/pods`, {
            client,
            headers: { authorization: `Bearer ${token}` },
          });
          await res.body?.cancel();
          return res.status;
        } finally {
          client.close();
        }
      };
      const k8sPort = (name: string) => gateway.listenerAddresses("kubernetes").get(name)?.port;
      try {
        const one = k8sPort("one")!;
        equal(await pods(one), 200);

        await Deno.writeTextFile(path, k8sConfig(["one", "two"]));
        ok(await gateway.reload(), log.messages("error").join("\n"));
        const two = k8sPort("two");
        ok(two, "the added endpoint has a listener");
        equal(await pods(two), 200, "the added endpoint serves without a restart");
        equal(k8sPort("one"), one);

        await Deno.writeTextFile(path, k8sConfig(["two"]));
        ok(await gateway.reload(), log.messages("error").join("\n"));
        await rejects(
          Deno.connect({ hostname: "127.0.0.1", port: one }),
          Deno.errors.ConnectionRefused,
          "the removed endpoint's address refuses",
        );
        equal(k8sPort("one"), undefined);
        equal(await pods(two), 200, "the other endpoint still serves");
        equal(log.messages("warn").filter((m) => m.includes("restart")), []);
      } finally {
        await gateway.stop();
      }
    } finally {
      await api.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
