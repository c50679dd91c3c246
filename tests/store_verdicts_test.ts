// The LLM verdict cache shared through the store (issue 24): a verdict the judge gave for a
// request on gateway A is reused on gateway B within its TTL without another model call (allow
// and deny alike). Against the real PostgreSQL: a fresh row is read, one older than the reader's
// TTL or past its expiry is not, expired rows are pruned, and a store that does not answer is
// never a verdict: the judge asks the model, and a failed write is logged once and ignored.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { postgresAvailable } from "./_postgres.ts";
import { type Served, startUpstream, type Upstream } from "./_crash_load.ts";
import { eventually, withTempDir } from "./_helpers.ts";
import { ALLOW, DENY, fakeOpenAi } from "./_llm_fakes.ts";
import {
  serveShared,
  sharedGatewayDir,
  type SharedStore,
  startSharedStore,
  storeCli,
} from "./_shared_store.ts";
import { migrate } from "../src/store/migrations.ts";
import { SharedVerdicts } from "../src/store/mod.ts";
import { LlmApprover } from "../src/approvals/llm.ts";
import { harness, judgeConfig, request, signal } from "../src/approvals/_llm_testing.ts";

/** POSTs go to an LLM judge at `baseUrl` (a local OpenAI-compatible server: no key). */
const judged = (baseUrl: string) =>
  `approver "llm_approver" "judge" {
  provider = "openai"
  model    = "m"
  base_url = "${baseUrl}"
  policy   = "Writes to /write are routine. Deny anything destructive."
  timeout  = "10s"
}
rule "api-writes" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  approve   = [llm_approver.judge]
}
`;

/** A POST of `body` to `path` through `served` as `bot`; resolves with the status. */
async function post(served: Served, ca: string, bot: string, path: string): Promise<number> {
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${served.proxyPort}`,
      basicAuth: { username: "bot", password: bot },
    },
    caCerts: [ca],
  });
  try {
    const res = await fetch(`https://api.test${path}`, {
      method: "POST",
      body: "same body",
      client,
      signal: AbortSignal.timeout(30_000),
    });
    await res.body?.cancel();
    return res.status;
  } finally {
    client.close();
  }
}

Deno.test({
  name: "store: a verdict the LLM judge gave on A is reused on B without another model call",
  ignore: !postgresAvailable(),
}, async () => {
  await withTempDir(async (dir) => {
    let store: SharedStore | undefined;
    const upstream: Upstream = await startUpstream();
    const llm = fakeOpenAi(() => ALLOW);
    const served: Served[] = [];
    try {
      store = await startSharedStore();
      const s = store;
      const configs = await Promise.all(
        ["a", "b"].map((n) =>
          sharedGatewayDir(join(dir, n), s, { upstream, extra: judged(llm.baseUrl) })
        ),
      );
      const added = await storeCli(configs[0], s, ["agent", "add", "bot", "--profile", "bots"]);
      equal(added.code, 0, added.stderr);
      const bot = added.stdout.trim().split("\n").at(-1)!;
      served.push(...await Promise.all(configs.map((c) => serveShared(c, s))));
      const [a, b] = served;
      const [caA, caB] = await Promise.all(
        ["a", "b"].map((n) => Deno.readTextFile(join(dir, n, "state/ca.pem"))),
      );

      equal(await post(a, caA, bot, "/write"), 200);
      equal(llm.calls.length, 1);
      // The write to the store is not awaited by the agent: B reads it once it landed.
      await eventually(
        "A's verdict to be in the store",
        async () => {
          const n = await s.pg.sql("SELECT count(*) FROM clawpatrol_llm_verdicts", "clawpatrol");
          return n.trim() === "1" ? true : undefined;
        },
        5_000,
        20,
      );
      equal(await post(b, caB, bot, "/write"), 200);
      equal(llm.calls.length, 1, "B asked the model again");
      match(b.gw.log, /llm judge verdict from cache/);
      equal(upstream.seen.filter((r) => r.path === "/write").length, 2);

      // A deny is shared the same way: B's judge denies, A denies without asking.
      llm.reply = () => DENY;
      equal(await post(b, caB, bot, "/drop"), 403);
      equal(llm.calls.length, 2);
      await eventually(
        "B's verdict to be in the store",
        async () => {
          const n = await s.pg.sql("SELECT count(*) FROM clawpatrol_llm_verdicts", "clawpatrol");
          return n.trim() === "2" ? true : undefined;
        },
        5_000,
        20,
      );
      equal(await post(a, caA, bot, "/drop"), 403);
      equal(llm.calls.length, 2, "A asked the model again");
      ok(!upstream.seen.some((r) => r.path === "/drop"));
    } finally {
      for (const g of served) await g.gw.stop().catch(() => g.gw.dispose());
      await store?.stop();
      await llm.close();
      await upstream.close();
    }
  });
});

/** A client of `store` through its relay, short timeouts (the relay may hold). */
function client(store: SharedStore): postgres.Sql {
  return postgres({
    host: "127.0.0.1",
    port: store.relay.port,
    database: "clawpatrol",
    username: "clawpatrol",
    pass: store.password,
    connect_timeout: 1,
    max: 2,
    onnotice: () => {},
  });
}

Deno.test({
  name:
    "SharedVerdicts: TTL and expiry hold, expired rows are pruned, a failing store is no verdict",
  ignore: !postgresAvailable(),
}, async () => {
  let store: SharedStore | undefined;
  let sql: postgres.Sql | undefined;
  await using llm = fakeOpenAi(() => DENY);
  try {
    store = await startSharedStore();
    sql = client(store);
    await migrate(sql);
    const errors: string[] = [];
    const verdicts = new SharedVerdicts(sql, {
      onError: (err) => errors.push(err.message),
      pruneEveryMs: 0,
    });
    const allow = { decision: "allow" as const, reason: "fine" };
    await verdicts.set("k1", allow, 60_000);
    deepEqual(await verdicts.get("k1", 60_000), allow);
    equal(await verdicts.get("k2", 60_000), undefined);
    // Older than the reader's TTL: not reused, though the writer's has not run out.
    await eventually(
      "k1 to be older than 200 ms",
      async () => {
        const [r] = await sql!`SELECT now() - created_at > interval '200 ms' AS old
        FROM clawpatrol_llm_verdicts WHERE key = 'k1'`;
        return r.old ? true : undefined;
      },
      5_000,
      50,
    );
    equal(await verdicts.get("k1", 200), undefined);
    // Past the writer's expiry: not reused, and the next write prunes it.
    await verdicts.set("short", allow, 100);
    await eventually(
      "'short' to expire",
      async () => {
        return await verdicts.get("short", 60_000) === undefined ? true : undefined;
      },
      5_000,
      50,
    );
    await verdicts.set("k3", { decision: "deny", reason: "no" }, 60_000);
    const keys = (await sql`SELECT key FROM clawpatrol_llm_verdicts ORDER BY key`).map((r) =>
      r.key
    );
    deepEqual(keys, ["k1", "k3"]);
    equal(errors.length, 0, errors.join("\n"));

    // The judge over this cache: its verdict reaches the store, and is read back elsewhere.
    const h = harness();
    const judge = new LlmApprover(judgeConfig(llm), { ...h.deps, verdicts });
    const req = request("c".repeat(64));
    equal((await judge.decide(req, signal())).decision, "deny");
    equal(llm.calls.length, 1);
    const other = new LlmApprover(judgeConfig(llm), { ...harness().deps, verdicts });
    await eventually(
      "the verdict to be shared",
      async () => {
        const n = await sql!`SELECT count(*)::int AS n FROM clawpatrol_llm_verdicts`;
        return n[0].n === 3 ? true : undefined;
      },
      5_000,
      20,
    );
    const cached = await other.decide(request("c".repeat(64)), signal());
    deepEqual([cached.decision, llm.calls.length], ["deny", 1]);
    match(cached.reason, /cached verdict/);
    // Another policy is another judge: it does not reuse that verdict.
    llm.reply = () => ALLOW;
    const strict = new LlmApprover(judgeConfig(llm, { policy: "Allow everything." }), {
      ...harness().deps,
      verdicts,
    });
    equal((await strict.decide(request("c".repeat(64)), signal())).decision, "allow");
    equal(llm.calls.length, 2);

    // The store stops answering: a fresh judge asks the model (never "allow" from a failure),
    // and the failed write is told once however often it fails.
    store.relay.hold();
    const lone = new LlmApprover(judgeConfig(llm), { ...harness().deps, verdicts });
    llm.reply = () => DENY;
    const asked = await lone.decide(request("c".repeat(64)), signal());
    deepEqual([asked.decision, llm.calls.length], ["deny", 3]);
    ok(!asked.reason.includes("cached"), asked.reason);
    await verdicts.set("k4", allow, 60_000);
    await verdicts.set("k5", allow, 60_000);
    await eventually("the failures to be told", () => errors.length >= 2 || undefined, 10_000);
    equal(errors.filter((e) => e.startsWith("cannot read")).length, 1, errors.join("\n"));
    equal(errors.filter((e) => e.startsWith("cannot write")).length, 1, errors.join("\n"));
    let failed = false;
    await verdicts.get("k1", 60_000).catch(() => failed = true);
    ok(failed, "a read of a store that does not answer resolved");
    store.relay.pass();
  } finally {
    await sql?.end({ timeout: 1 });
    await store?.stop();
  }
});
