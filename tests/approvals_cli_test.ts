// `clawpatrol approvals` end to end: curl held by a rule with approve = [human_approver.ops],
// listed and decided by the CLI (a real subprocess) through the admin API, authenticated with
// the admin token `init` created; the receipt names the operator as cli:<user>.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { generateAdminToken } from "../src/admin/mod.ts";
import { queryReceipts } from "../src/audit/mod.ts";
import type { Receipt } from "../src/core/mod.ts";
import { createState } from "../src/gateway/mod.ts";
import { cli, type CliResult, closedPort, eventually, Running, withTempDir } from "./_helpers.ts";
import { gatewayHeader } from "./_gateway.ts";
import { DEFAULT_RULES, withProxy } from "./_proxy_fixture.ts";
import { curlOutcome, curlPost } from "./_curl.ts";

const HELD_RULE = `
approver "human_approver" "ops" {
  timeout = "30s"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post' && http.path == '/write'"
  approve   = [human_approver.ops]
  reason    = "writes need a human"
}
`;

const ID = /\b(apr_[A-Za-z0-9]+)\b/;

/** curl POST https://api.test/write through the gateway's proxy, as a running child. */

/** Runs `clawpatrol approvals ARGS…` until `list` shows one held request; returns its line. */
async function heldLine(args: string[], env: Record<string, string>, cwd?: string) {
  return await eventually(
    "the held request in 'clawpatrol approvals list'",
    async () => {
      const r = await cli(["approvals", "list", ...args], { env, cwd });
      equal(r.code, 0, r.stderr);
      return r.stdout.split("\n").find((l) => ID.test(l));
    },
    20_000,
    100,
  );
}

const oneLine = (r: CliResult) => r.stderr.trim().split("\n").length === 1;

Deno.test("curl held by the rule goes through once 'clawpatrol approvals approve' is run; the receipt names cli:<user>", async () => {
  await withProxy({ rules: HELD_RULE + DEFAULT_RULES }, async (fx) => {
    const state = join(fx.dir, "state");
    const token = (await Deno.readTextFile(join(state, "admin.token"))).trim();
    const adminUrl = `http://127.0.0.1:${fx.gateway.adminAddress.port}`;
    const env = { CLAWPATROL_ADMIN_TOKEN: token, USER: "alice", LOGNAME: "not-alice" };
    const curl = curlPost(fx);
    try {
      const line = await heldLine(["--admin-url", adminUrl], env, fx.dir);
      const id = line.match(ID)![1];
      match(line, /\bbot\b/);
      match(line, /\bhttps\.api\b/);
      match(line, /\bwrites-need-approval\b/);
      match(line, /POST api\.test\/write$/);
      equal(fx.seen.length, 0, "the upstream saw the request before it was approved");

      const json = await cli(["approvals", "list", "--json", "--admin-url", adminUrl], { env });
      equal(json.code, 0, json.stderr);
      const [listed] = JSON.parse(json.stdout);
      deepEqual(
        [listed.id, listed.agent, listed.profile, listed.rule, listed.approver, listed.quorum],
        [id, "bot", "bots", "writes-need-approval", "human_approver.ops", 1],
      );
      equal(listed.fingerprint.length, 64);

      const approve = await cli(
        ["approvals", "approve", id, "--reason", "ok", "--admin-url", adminUrl],
        { env },
      );
      equal(approve.code, 0, approve.stderr);
      match(approve.stdout, new RegExp(`^Approved ${id} as cli:alice`));
      ok(!(approve.stdout + approve.stderr).includes(token), "the CLI printed the token");

      const result = await curlOutcome(curl);
      equal(result.status, 200, result.body);
      deepEqual(fx.seen.map((r) => [r.method, r.target, r.body]), [["POST", "/write", "payload"]]);
      const receipt = (await fx.receipts()).find((r) => r.rule === "writes-need-approval")!;
      equal(receipt.verdict, "allow");
      deepEqual(receipt.approvals.map((a) => [a.approver, a.decision, a.who, a.reason]), [
        ["human_approver.ops", "allow", "cli:alice", "ok"],
      ]);
      // Decided, so gone from the queue: a second approve names the id as unknown.
      const again = await cli(["approvals", "approve", id, "--admin-url", adminUrl], { env });
      equal(again.code, 1);
      match(again.stderr, new RegExp(`^Error: No request '${id}' is waiting for approval`));
      ok(!JSON.stringify(fx.log.lines).includes(token), "the gateway logged the token");
    } finally {
      try {
        curl.kill();
      } catch {
        // Already exited.
      }
      await curl.status;
    }
  });
});

/** A config whose rule holds every POST to api.test (its upstream is down: never reached). */
function servedConfig(): string {
  return `${gatewayHeader()}
endpoint "https" "api" {
  hosts    = ["api.test"]
  upstream = "127.0.0.1:${closedPort()}"
}
profile "bots" {
  endpoints = [https.api]
}
${HELD_RULE}`;
}

interface Served {
  dir: string;
  config: string;
  gw: Running;
  adminUrl: string;
  proxyUrl: string;
  caFile: string;
  tokenFile: string;
}

/**
 * `clawpatrol serve` as a subprocess on a state dir without admin.token (one from before admin
 * tokens), with agent `bot` enrolled.
 */
async function withServe(fn: (s: Served) => Promise<void>): Promise<void> {
  await withTempDir(async (dir) => {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, servedConfig());
    const state = join(dir, "state");
    await createState(state);
    const tokenFile = join(state, "admin.token");
    await Deno.remove(tokenFile);
    const registry = AgentRegistry.open(state);
    const agentToken = registry.add("bot", "bots");
    const gw = Running.spawn(["serve", "-c", config]);
    try {
      const adminUrl = await gw.adminUrl();
      const port = gw.log.match(/proxy on http:\/\/127\.0\.0\.1:(\d+)/)![1];
      await fn({
        dir,
        config,
        gw,
        adminUrl,
        proxyUrl: `http://bot:${agentToken}@127.0.0.1:${port}`,
        caFile: join(state, "ca.pem"),
        tokenFile,
      });
    } finally {
      await gw.dispose();
    }
  });
}

Deno.test("serve creates a missing admin.token (0600); 'approvals deny' run beside the config gives curl 403 with the reason", async () => {
  await withServe(async ({ dir, config, gw, adminUrl, proxyUrl, caFile, tokenFile }) => {
    match(gw.log, /created admin token .*state\/admin\.token for 'clawpatrol approvals'/);
    equal((await Deno.stat(tokenFile)).mode! & 0o777, 0o600);
    const token = (await Deno.readTextFile(tokenFile)).trim();
    match(token, /^cpadm_[A-Za-z0-9_-]{43}$/);
    // On the gateway host: the token comes from state/admin.token, found through the config.
    const args = ["-c", config, "--admin-url", adminUrl];
    const env = { USER: "bob" };
    const curl = curlPost({ proxyUrl, caFile });
    try {
      const id = (await heldLine(args, env)).match(ID)![1];
      const deny = await cli(["approvals", "deny", id, "--reason", "not today", ...args], { env });
      equal(deny.code, 0, deny.stderr);
      match(deny.stdout, new RegExp(`^Denied ${id} as cli:bob`));
      const result = await curlOutcome(curl);
      equal(result.status, 403, result.body);
      const body = JSON.parse(result.body);
      deepEqual([body.error, body.reason, body.rule], [
        "denied",
        "not today",
        "writes-need-approval",
      ]);
      const receipt = await eventually(
        "the denied request's receipt",
        () =>
          queryReceipts(join(dir, "state", "receipts.db")).find((r: Receipt) =>
            r.id === body.receipt
          ),
      );
      deepEqual(receipt.approvals.map((a) => [a.decision, a.who, a.reason]), [
        ["deny", "cli:bob", "not today"],
      ]);
      const list = await cli(["approvals", "list", ...args], { env });
      equal(list.code, 0, list.stderr);
      equal(list.stdout.trim(), "No requests waiting for approval");
      await gw.waitFor(new RegExp(`approval ${id}: deny by cli:bob`));
      ok(!gw.log.includes(token), "the gateway logged its admin token");
    } finally {
      try {
        curl.kill();
      } catch {
        // Already exited.
      }
      await curl.status;
    }
  });
});

Deno.test("approvals without a valid token, for an unknown id, or with the gateway down exit 1 with one line", async () => {
  await withServe(async ({ config, gw, adminUrl, tokenFile }) => {
    // No token: neither CLAWPATROL_ADMIN_TOKEN nor a config beside us to find admin.token by.
    await withTempDir(async (elsewhere) => {
      const r = await cli(["approvals", "list", "--admin-url", adminUrl], { cwd: elsewhere });
      equal(r.code, 1);
      ok(oneLine(r), r.stderr);
      match(
        r.stderr,
        /answered 401 Unauthorized: no admin token was sent .*CLAWPATROL_ADMIN_TOKEN/,
      );
    });
    // A wrong token: refused, and never echoed by the CLI or the gateway.
    const wrong = generateAdminToken();
    const env = { CLAWPATROL_ADMIN_TOKEN: wrong };
    for (const args of [["list"], ["approve", "apr_0123456789abcdef0123"]]) {
      const r = await cli(["approvals", ...args, "--admin-url", adminUrl], { env });
      equal(r.code, 1, args.join(" "));
      ok(oneLine(r), r.stderr);
      match(
        r.stderr,
        /answered 401 Unauthorized: the admin token in CLAWPATROL_ADMIN_TOKEN was not accepted/,
      );
      ok(!(r.stdout + r.stderr).includes(wrong));
    }
    await gw.waitFor(/refused a request without a valid admin token/);
    ok(!gw.log.includes(wrong), "the gateway logged the presented token");
    // An unknown id, with the right token from the state dir.
    const args = ["-c", config, "--admin-url", adminUrl];
    for (const sub of ["approve", "deny"]) {
      const r = await cli(["approvals", sub, "apr_0123456789abcdef0123", ...args]);
      equal(r.code, 1);
      ok(oneLine(r), r.stderr);
      match(r.stderr, /^Error: No request 'apr_0123456789abcdef0123' is waiting for approval/);
    }
    // A token file others can read is refused before anything is sent.
    await Deno.chmod(tokenFile, 0o640);
    const shared = await cli(["approvals", "list", ...args]);
    equal(shared.code, 1);
    match(shared.stderr, /admin\.token' is readable by other users \(mode 640\): run 'chmod 600 /);
    await Deno.chmod(tokenFile, 0o600);
    // The gateway is gone.
    const down = `http://127.0.0.1:${closedPort()}`;
    const r = await cli(["approvals", "list", "-c", config, "--admin-url", down]);
    equal(r.code, 1);
    ok(oneLine(r), r.stderr);
    match(r.stderr, new RegExp(`^Error: Cannot reach the gateway's admin API at ${down}: `));
  });
});

Deno.test("approvals usage mistakes exit 2 with one line", async () => {
  const cases: [string[], RegExp][] = [
    [["approvals"], /needs a subcommand: list, approve or deny/],
    [["approvals", "maybe"], /unknown approvals subcommand 'maybe'/],
    [["approvals", "approve"], /approvals approve takes one request ID/],
    [["approvals", "deny", "a", "b"], /approvals deny takes one request ID/],
    [["approvals", "list", "x"], /approvals list takes no arguments/],
    [["approvals", "approve", "apr_1", "--json"], /--json is for 'approvals list'/],
    [["approvals", "list", "--reason", "x"], /--reason is for 'approvals approve'/],
    [["approvals", "list", "--admin-url", "nope"], /--admin-url 'nope' is not a URL/],
    [["approvals", "list", "--admin-url", "ftp://h:1"], /must be an http:\/\/ or https:\/\/ URL/],
  ];
  const results = await Promise.all(cases.map(([args]) => cli(args)));
  results.forEach((r, i) => {
    equal(r.code, 2, cases[i][0].join(" "));
    ok(oneLine(r), r.stderr);
    match(r.stderr, cases[i][1]);
  });
});

Deno.test("approvals without --admin-url asks for it when admin_listen uses a random port", async () => {
  await withTempDir(async (dir) => {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, servedConfig());
    const r = await cli(["approvals", "list", "-c", config]);
    equal(r.code, 2);
    match(r.stderr, /admin_listen '127\.0\.0\.1:0' picks a random port: pass --admin-url/);
  });
});

Deno.test("init creates state/admin.token, mode 0600, holding a cpadm_ token; --force keeps it", async () => {
  await withTempDir(async (dir) => {
    equal((await cli(["init", dir])).code, 0);
    const file = join(dir, "state", "admin.token");
    equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    const token = await Deno.readTextFile(file);
    match(token, /^cpadm_[A-Za-z0-9_-]{43}\n$/);
    equal((await cli(["init", dir, "--force"])).code, 0);
    equal(await Deno.readTextFile(file), token);
  });
});
