import { deepEqual, equal, match, ok, throws } from "node:assert/strict";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigText } from "../config/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { APP_ENV, grantFlags, serveGrant } from "./grant.ts";

const REPO = dirname(dirname(dirname(fileURLToPath(import.meta.url))));

const CONFIG = `
schema_version = 1
gateway {
  state_dir    = "./state"
  proxy_listen = "127.0.0.1:18080"
  admin_listen = "127.0.0.1:18081"
}
endpoint "https" "github" {
  hosts = ["api.github.com", "*.githubusercontent.com"]
  ports = [443, 8443]
}
endpoint "https" "internal" {
  hosts    = ["svc.internal"]
  upstream = "10.0.0.7:9443"
}
endpoint "postgres" "pg" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:15432"
}
endpoint "kubernetes" "k8s" {
  server = "https://10.0.0.1:6443"
  listen = "127.0.0.1:16443"
}
credential "webhook_secret" "hook" {}
credential "slack_tokens" "slack" {}
approver "webhook_approver" "hook" {
  url        = "https://hooks.example/approve"
  credential = webhook_secret.hook
}
approver "llm_approver" "local" {
  provider = "openai"
  model    = "llama"
  base_url = "http://127.0.0.1:11434/v1"
}
approver "human_approver" "ops" {
  slack_channel = "#ops"
  credential    = slack_tokens.slack
}
approver "human_approver" "cli" {}
`;

async function grantOf(text: string) {
  const config = await loadConfigText("/etc/gw/gateway.hcl", text, { protocols: PROTOCOLS });
  return serveGrant(config, PROTOCOLS, { app: "/opt/clawpatrol", configDir: "/etc/gw" });
}

Deno.test("serveGrant: the network grant names the listeners, upstreams and approvers, nothing else", async () => {
  const grant = await grantOf(CONFIG);
  deepEqual([...grant.net as string[]].sort(), [
    "*.githubusercontent.com:443",
    "*.githubusercontent.com:8443",
    "*.slack.com:443",
    "10.0.0.1:6443",
    // `upstream` replaces the hosts as what is dialled.
    "10.0.0.7:9443",
    "127.0.0.1:11434",
    "127.0.0.1:15432",
    "127.0.0.1:16443",
    "127.0.0.1:18080",
    "127.0.0.1:18081",
    "api.github.com:443",
    "api.github.com:8443",
    "db.internal:5432",
    "hooks.example:443",
    "slack.com:443",
  ]);
  deepEqual(grant.warnings, []);
});

Deno.test("serveGrant: writes only the state directory, reads the app, config, state and CA bundles", async () => {
  const grant = await grantOf(CONFIG);
  deepEqual(grant.write, ["/etc/gw/state"]);
  deepEqual(grant.read, [
    "/opt/clawpatrol",
    "/etc/gw",
    "/etc/gw/gateway.hcl",
    "/etc/gw/state",
    "/etc/ssl",
    "/etc/pki",
  ]);
  deepEqual(grant.run, [], "serve starts no program");
  deepEqual(grant.sys, ["osRelease"]);
});

Deno.test("serveGrant: transparent interception adds its DNS listener and the virtual IP range", async () => {
  const grant = await grantOf(
    CONFIG.replace("gateway {", 'gateway {\n  transparent {\n    vip_range = "10.79.0.0/16"\n  }'),
  );
  const net = grant.net as string[];
  ok(net.includes("10.79.0.1:53"), "the responder, on the range's own address");
  ok(net.includes("10.79.0.0/16"), "the virtual IPs, as a range");
  ok(net.includes("10.77.0.0/16"), "isolated runs' links, where DNS answers go");
});

Deno.test("serveGrant: passthrough of unknown hosts is an open network grant, said loudly", async () => {
  const grant = await grantOf(`${CONFIG}\ndefaults {\n  unknown_host = "passthrough"\n}\n`);
  equal(grant.net, "all");
  match(grant.warnings[0], /passthrough.*open network grant/);
  ok(grantFlags(grant).includes("--allow-net"));
});

Deno.test("grantFlags: one scoped flag per kind, no prompt, and a ',' in a path is refused", async () => {
  const grant = await grantOf(CONFIG);
  const flags = grantFlags(grant);
  equal(flags[0], "--no-prompt");
  equal(flags.at(-1), "--deny-import");
  for (const flag of flags.slice(1, -1)) match(flag, /^--allow-(read|write|net|env|sys)=./);
  ok(!flags.some((f) => f.startsWith("--allow-run")), "no run grant at all");
  throws(() => grantFlags({ ...grant, write: ["/srv/a,b"] }), /holds a ','/);
});

Deno.test("the launcher's grant step reads exactly the app's environment variables", async () => {
  const launcher = await Deno.readTextFile(join(REPO, "launcher.sh"));
  const line = launcher.split("\n").find((l) => l.startsWith("APP_ENV="));
  deepEqual(line?.slice("APP_ENV=".length).split(","), [...APP_ENV]);
});

Deno.test("a process short of its grant reports every missing permission", async () => {
  // The check runs in a child that is granted less than the config needs.
  const probe = `
    import { checkGrant } from "${join(REPO, "src/gateway/grant.ts")}";
    const grant = { read: ["/etc/ssl", "/nonexistent/secret"], write: ["/tmp/x"],
      net: ["127.0.0.1:1", "db.internal:5432", "*.slack.com:443", "10.79.0.0/16", "10.80.0.0/16"],
      env: ["HOME"], run: [], sys: [],
      warnings: [] };
    console.log(JSON.stringify(checkGrant(grant)));`;
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_grant_" });
  const script = join(dir, "probe.ts");
  await Deno.writeTextFile(script, probe);
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=/etc/ssl,${REPO},${dir}`,
      "--allow-net=127.0.0.1:1,*.slack.com:443,10.79.0.0/16",
      script,
    ],
    cwd: REPO,
  }).output().finally(() => Deno.remove(dir, { recursive: true }));
  equal(code, 0, new TextDecoder().decode(stderr));
  const check = JSON.parse(new TextDecoder().decode(stdout));
  deepEqual(check.uncovered, [
    "read /nonexistent/secret",
    "write /tmp/x",
    "net db.internal:5432",
    "net 10.80.0.0/16",
    "env HOME",
  ]);
  deepEqual(check.unrestricted, [], "nothing is granted without a scope");
});
