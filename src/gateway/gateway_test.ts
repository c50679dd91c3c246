import { equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { queryReceipts } from "../audit/mod.ts";
import { ConfigError } from "../core/mod.ts";
import type { Action } from "../core/mod.ts";
import { completeFacts } from "../policy/mod.ts";
import { Gateway } from "./gateway.ts";
import { MemoryLogger } from "./log.ts";
import { createState, RECEIPTS_FILE } from "./state.ts";
import { protocolOf } from "../protocols/registry.ts";

const CONFIG = `schema_version = 1
gateway {
  state_dir    = "./state"
  admin_listen = "127.0.0.1:0"
}
endpoint "https" "github" {
  hosts = ["api.github.com"]
}
rule "github-reads" {
  endpoint  = https.github
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;

const RULE = `
rule "github-no-deletes" {
  endpoint  = https.github
  condition = "http.method == 'delete'"
  verdict   = "deny"
}
`;

function action(method: string): Action {
  return {
    protocol: "https",
    endpoint: "github",
    agent: { name: "bot", profile: "default" },
    facts: completeFacts(protocolOf("https")!, { http: { method, path: "/repos/acme/api" } }),
    summary: `${method} /repos/acme/api`,
  };
}

/** A config and state dir in a temp dir; a gateway started on it is always stopped. */
async function withGateway(
  fn: (ctx: { gateway: Gateway; config: string; log: MemoryLogger }) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_gateway_" });
  try {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, CONFIG);
    await createState(join(dir, "state"));
    const log = new MemoryLogger();
    const gateway = await Gateway.start(config, { log, version: "test", watch: false });
    try {
      await fn({ gateway, config, log });
    } finally {
      await gateway.stop(); // stop() is idempotent: tests may have stopped it already
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Gateway.start serves the admin API on the bound port and logs it", async () => {
  await withGateway(async ({ gateway, log }) => {
    const { hostname, port } = gateway.adminAddress;
    equal(hostname, "127.0.0.1");
    ok(port > 0);
    match(log.messages("info")[0], new RegExp(`^serving: 1 endpoints, 1 rules, .*:${port}$`));
    const res = await fetch(`http://127.0.0.1:${port}/status`);
    equal((await res.json()).rules, 1);
  });
});

Deno.test("Gateway.stop commits every receipt decided before it", async () => {
  await withGateway(async ({ gateway, log }) => {
    const ids = Array.from({ length: 20 }, () => {
      const decided = gateway.guard.decide(action("GET"));
      decided.finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
      return decided.receipt;
    });
    await gateway.stop();
    const rows = queryReceipts(join(gateway.stateDir, RECEIPTS_FILE));
    equal(rows.length, 20);
    equal(rows.map((r) => r.id).join(), ids.join());
    equal(log.messages("info").at(-1), "stopped");
    await gateway.stop();
    equal(log.messages("info").filter((m) => m === "stopped").length, 1, "stopped twice");
  });
});

Deno.test("reload() swaps in a valid edit; decisions follow the new rules at once", async () => {
  await withGateway(async ({ gateway, config, log }) => {
    equal(gateway.guard.decide(action("DELETE")).verdict.rule, null);
    await Deno.writeTextFile(config, RULE, { append: true });
    equal(await gateway.reload(), true);
    equal(gateway.config.rules.length, 2);
    equal(gateway.guard.decide(action("DELETE")).verdict.rule, "github-no-deletes");
    ok(log.messages("info").includes("config reloaded: 1 endpoints, 2 rules"));
  });
});

Deno.test("reload() rejects an invalid edit, keeps the old policy and logs each problem", async () => {
  await withGateway(async ({ gateway, config, log }) => {
    const policy = gateway.policy;
    const line = CONFIG.split("\n").length;
    await Deno.writeTextFile(config, `rule "bad" { verdict = "maybe" }\n`, { append: true });
    equal(await gateway.reload(), false);
    equal(gateway.policy, policy);
    equal(gateway.guard.decide(action("GET")).verdict.decision, "allow");
    const errors = log.messages("error");
    match(errors[0], /^config reload rejected, keeping the previous config/);
    ok(
      errors.some((e) => e.includes(`gateway.hcl:${line}: rule "bad"`)),
      errors.join("\n"),
    );
    const metrics = await (await fetch(`http://127.0.0.1:${gateway.adminAddress.port}/metrics`))
      .text();
    match(metrics, /^clawpatrol_config_reload_failures_total 1$/m);
  });
});

Deno.test("reload() warns that listener and state settings need a restart", async () => {
  await withGateway(async ({ gateway, config, log }) => {
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(config, text.replace('"127.0.0.1:0"', '"127.0.0.1:1"'));
    equal(await gateway.reload(), true);
    ok(
      log.messages("warn").some((m) => m.includes("'gateway.admin_listen' changed")),
      log.messages().join("\n"),
    );
  });
});

Deno.test("Gateway.start rejects an invalid config with every problem, opening nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_gateway_" });
  try {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, CONFIG.replace("allow", "maybe") + `colour = "blue"\n`);
    await createState(join(dir, "state"));
    await rejects(
      Gateway.start(config, { log: new MemoryLogger(), version: "test", watch: false }),
      (err) => err instanceof ConfigError && err.problems.length === 2,
    );
    // Nothing was opened: the receipts database does not exist.
    await rejects(Deno.stat(join(dir, "state", RECEIPTS_FILE)), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Gateway.start without a state directory says to run init", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_gateway_" });
  try {
    const config = join(dir, "gateway.hcl");
    await Deno.writeTextFile(config, CONFIG);
    await rejects(
      Gateway.start(config, { log: new MemoryLogger(), version: "test", watch: false }),
      /State directory '.*state' does not exist: run 'clawpatrol init'/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
