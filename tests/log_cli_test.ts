// `clawpatrol log` and `log verify` end to end, as a real subprocess, over receipts written by an
// in-process gateway.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { completeFacts } from "../src/policy/mod.ts";
import type { Action } from "../src/core/mod.ts";
import { cli, initDir, Running, withTempDir } from "./_helpers.ts";
import { protocolOf } from "../src/protocols/registry.ts";

const lines = (s: string) => s.split("\n").filter((l) => l.trim() !== "");

function githubAction(agent: string, method: string, path: string): Action {
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: agent, profile: "default" },
    facts: completeFacts(protocolOf("https")!, {
      http: {
        method,
        host: "api.github.com",
        path,
        headers: { authorization: "Bearer ghp_cli_test_secret" },
      },
    }),
    summary: `${method} ${path}`,
  };
}

/** Init's a gateway dir and decides a few actions through an in-process gateway. */
async function withReceipts(
  fn: (config: string, ids: { id: string; decision: string }[]) => Promise<void>,
): Promise<void> {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const log = new MemoryLogger();
    const gateway = await Gateway.start(config, { log, version: "test", watch: false });
    const ids: { id: string; decision: string }[] = [];
    try {
      for (
        const [agent, method, path] of [
          ["bot-a", "GET", "/repos/acme/api/pulls"],
          ["bot-b", "DELETE", "/repos/acme/api"],
          ["bot-a", "HEAD", "/repos/acme/api"],
          ["bot-b", "PUT", "/repos/acme/api/branches/main/protection"],
        ]
      ) {
        const { verdict, receipt, finish } = gateway.guard.decide(
          githubAction(agent, method, path),
        );
        ok(receipt, `no receipt for ${method} ${path}`);
        finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
        ids.push({ id: receipt, decision: verdict.decision });
      }
    } finally {
      await gateway.stop();
    }
    deepEqual(ids.map((i) => i.decision), ["allow", "deny", "allow", "deny"]);
    await fn(config, ids);
  });
}

Deno.test("log verify passes an intact chain and names the seq of an edited receipt", async () => {
  await withReceipts(async (config, ids) => {
    const good = await cli(["log", "verify", "-c", config]);
    equal(good.code, 0, good.stdout + good.stderr);
    match(good.stdout, new RegExp(`: ok: ${ids.length} receipts, hash chain intact`));

    const db = new DatabaseSync(join(config, "..", "state", "receipts.db"));
    try {
      const changed = db.prepare(
        "UPDATE receipts SET canonical = json_set(canonical, '$.reason', ?) WHERE seq = 2",
      ).run("fine");
      equal(changed.changes, 1);
    } finally {
      db.close();
    }
    const bad = await cli(["log", "verify", "-c", config]);
    equal(bad.code, 1, bad.stdout + bad.stderr);
    match(bad.stdout, /BROKEN at receipt seq 2: .*\(1 receipts verified before it\)/);
  });
});

Deno.test("log verify notices a deleted receipt", async () => {
  await withReceipts(async (config) => {
    const db = new DatabaseSync(join(config, "..", "state", "receipts.db"));
    try {
      db.exec("DELETE FROM receipts WHERE seq = 3");
    } finally {
      db.close();
    }
    const r = await cli(["log", "verify", "-c", config]);
    equal(r.code, 1);
    match(r.stdout, /BROKEN at receipt seq 4/);
  });
});

Deno.test("log prints receipts as text and JSON, filtered by verdict, agent, limit and since", async () => {
  await withReceipts(async (config, ids) => {
    const [text, json, deny, agent, limit, since, future, bad, badVerdict] = await Promise.all([
      cli(["log", "-c", config]),
      cli(["log", "--json", "-c", config]),
      cli(["log", "--json", "--verdict", "deny", "-c", config]),
      cli(["log", "--json", "--agent", "bot-a", "-c", config]),
      cli(["log", "--json", "--limit", "1", "-c", config]),
      cli(["log", "--json", "--since", "1h", "-c", config]),
      cli(["log", "--json", "--since", "2999-01-01T00:00:00Z", "-c", config]),
      cli(["log", "--since", "nonsense", "-c", config]),
      cli(["log", "--verdict", "maybe", "-c", config]),
    ]);
    equal(text.code, 0, text.stderr);
    const textLines = lines(text.stdout);
    equal(textLines.length, ids.length);
    ids.forEach(({ id }, i) => ok(textLines[i].endsWith(id), textLines[i]));
    match(textLines[1], /deny .*bot-b github github-destructive "DELETE \/repos\/acme\/api"/);
    equal(text.stdout.includes("ghp_cli_test_secret"), false, "token leaked into log output");

    const parse = (s: string) => lines(s).map((l) => JSON.parse(l));
    const all = parse(json.stdout);
    deepEqual(all.map((r) => r.id), ids.map((i) => i.id));
    deepEqual(all.map((r) => r.verdict), ["allow", "deny", "allow", "deny"]);
    equal(all[0].rule, "github-reads");
    equal(all[0].agent, "bot-a");
    deepEqual(all[0].facts.http.headers.authorization, ["Bearer [redacted]"]);
    equal(json.stdout.includes("ghp_cli_test_secret"), false, "token leaked into JSON");

    deepEqual(parse(deny.stdout).map((r) => r.id), [ids[1].id, ids[3].id]);
    deepEqual(parse(agent.stdout).map((r) => r.id), [ids[0].id, ids[2].id]);
    deepEqual(parse(limit.stdout).map((r) => r.id), [ids[3].id], "--limit keeps the newest");
    equal(parse(since.stdout).length, ids.length);
    equal(future.code, 0);
    equal(future.stdout, "");

    equal(bad.code, 2);
    deepEqual(lines(bad.stderr).length, 1, bad.stderr);
    match(bad.stderr, /^Usage error: --since must be .*'nonsense'/);
    equal(badVerdict.code, 2);
    match(badVerdict.stderr, /^Usage error: --verdict must be allow or deny/);
  });
});

Deno.test("log --follow prints receipts as they are committed and exits 0 on SIGTERM", async () => {
  await withReceipts(async (config, ids) => {
    const follow = Running.spawn(["log", "--follow", "-c", config]);
    try {
      await follow.waitFor(new RegExp(`${ids.at(-1)!.id}$`), 15_000, 0, "stdout");
      equal(follow.out.filter((l) => l.trim()).length, ids.length);
      const gateway = await Gateway.start(config, {
        log: new MemoryLogger(),
        version: "test",
        watch: false,
      });
      let id: string | null;
      try {
        id = gateway.guard.decide(githubAction("bot-c", "GET", "/rate_limit")).receipt;
      } finally {
        await gateway.stop();
      }
      ok(id);
      const hit = await follow.waitFor(new RegExp(`bot-c .*${id}$`), 5_000, 0, "stdout");
      match(hit.input!, /^\S+ allow +bot-c github github-reads "GET \/rate_limit"/);
      equal((await follow.stop("SIGTERM", 5_000)).code, 0);
    } finally {
      await follow.dispose();
    }
  });
});

Deno.test("log and log verify before any receipt exists exit 1 saying so", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    for (const args of [["log"], ["log", "verify"]]) {
      const r = await cli([...args, "-c", config]);
      equal(r.code, 1, args.join(" "));
      deepEqual(lines(r.stderr).length, 1, r.stderr);
      match(r.stderr, /^Error: No receipts yet: '.*receipts\.db' does not exist/);
    }
  });
});
