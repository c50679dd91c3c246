// `clawpatrol serve` and `start` as real subprocesses: health, metrics, hot reload (good and bad
// edits, editors' rename-on-save), clean shutdown, and refusing a state dir others can read.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, closedPort, eventually, initDir, Running, withTempDir } from "./_helpers.ts";

const RULE = (name: string) => `
rule "${name}" {
  endpoint  = https.github
  condition = "http.path == '/${name}'"
  verdict   = "deny"
}
`;

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.json() };
}

async function metric(base: string, name: string): Promise<number> {
  const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const text = await res.text();
  const m = text.match(new RegExp(`^${name} (\\S+)$`, "m"));
  if (!m) throw new Error(`No ${name} in /metrics:\n${text}`);
  return Number(m[1]);
}

/** Runs `serve` on an init'ed temp dir; always stops it and removes the dir. */
async function withServe(fn: (gw: Running, base: string, config: string) => Promise<void>) {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const gw = Running.spawn(["serve", "-c", config]);
    try {
      const base = await gw.adminUrl();
      await fn(gw, base, config);
    } finally {
      await gw.dispose();
    }
  });
}

Deno.test("serve answers /healthz, /status and /metrics, and stops cleanly on SIGTERM", async () => {
  await withServe(async (gw, base) => {
    const health = await getJson(`${base}/healthz`);
    equal(health.status, 200);
    equal(health.body.status, "ok");
    match(String(health.body.version), /^\d+\.\d+\.\d+$/);

    const status = await getJson(`${base}/status`);
    equal(status.status, 200);
    equal(status.body.mode, "enforce");
    deepEqual(status.body.endpoints, ["github", "anthropic", "openai"]);
    const rules = status.body.rules as number;
    ok(rules > 0);

    const res = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(5_000) });
    match(res.headers.get("content-type") ?? "", /^text\/plain/);
    const text = await res.text();
    match(text, /^# TYPE clawpatrol_rules gauge$/m);
    equal(await metric(base, "clawpatrol_rules"), rules);

    const status2 = await gw.stop("SIGTERM", 5_000);
    equal(status2.code, 0, gw.log);
    match(gw.log, / info +stopped$/m);
    const refused = await fetch(`${base}/healthz`).then((r) => r.body?.cancel(), () => "refused");
    equal(refused, "refused", "admin API still answering after stop");
  });
});

Deno.test("serve hot-reloads a valid edit and rejects an invalid one, keeping the old rules", async () => {
  await withServe(async (gw, base, config) => {
    const before = await metric(base, "clawpatrol_rules");
    await Deno.writeTextFile(config, RULE("extra"), { append: true });
    await eventually(
      "the new rule count",
      async () => await metric(base, "clawpatrol_rules") === before + 1 ? true : undefined,
    );
    await gw.waitFor(new RegExp(`config reloaded: 3 endpoints, ${before + 1} rules`), 5_000);
    equal(await metric(base, "clawpatrol_config_reloads_total"), 1);

    // An invalid edit: a rule with an unknown verdict and no endpoint, at a known line.
    const text = await Deno.readTextFile(config);
    const badLine = text.split("\n").length;
    const from = gw.lines.length;
    await Deno.writeTextFile(config, `rule "broken" { verdict = "maybe" }\n`, { append: true });
    await gw.waitFor(/config reload rejected, keeping the previous config/, 10_000, from);
    await gw.waitFor(new RegExp(`gateway\\.hcl:${badLine}: rule "broken": .*"maybe"`), 5_000, from);
    equal(await metric(base, "clawpatrol_config_reload_failures_total"), 1);
    equal(await metric(base, "clawpatrol_rules"), before + 1);
    equal((await getJson(`${base}/healthz`)).status, 200, "still serving after a bad edit");
  });
});

Deno.test("serve keeps reloading after editors' rename-on-save, and stops on SIGINT", async () => {
  await withServe(async (gw, base, config) => {
    const before = await metric(base, "clawpatrol_rules");
    // Save twice the way vim and `sed -i` do: write a new file, rename it over the config. The
    // second save only lands if the watch survived the first rename.
    for (const [i, name] of ["saved1", "saved2"].entries()) {
      const tmp = `${config}.tmp`;
      await Deno.writeTextFile(tmp, (await Deno.readTextFile(config)) + RULE(name));
      await Deno.rename(tmp, config);
      await eventually(
        `rule count ${before + i + 1} after save ${i + 1}`,
        async () => await metric(base, "clawpatrol_rules") === before + i + 1 ? true : undefined,
      );
    }
    equal((await gw.stop("SIGINT", 5_000)).code, 0, gw.log);
    match(gw.log, / info +stopped$/m);
  });
});

Deno.test("start in an empty directory creates the config and then serves", async () => {
  // Port 0 for both listeners: the starter's 8080/8081 may be anyone's on a shared machine.
  await withTempDir(async (dir) => {
    const config = join(dir, "gw", "gateway.hcl");
    const gw = Running.spawn([
      "start",
      "-c",
      config,
      "--proxy-listen",
      "127.0.0.1:0",
      "--admin-listen",
      "127.0.0.1:0",
    ]);
    try {
      const base = await gw.adminUrl(20_000);
      match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
      const written = await Deno.readTextFile(config);
      match(written, /^ {2}proxy_listen = "127\.0\.0\.1:0"$/m);
      match(written, /^ {2}admin_listen = "127\.0\.0\.1:0"$/m);
      equal((await getJson(`${base}/healthz`)).status, 200);
      match(gw.log, /No config at .*gateway\.hcl: running 'clawpatrol init /);
      equal((await Deno.stat(join(dir, "gw", "state", "vault.db"))).mode! & 0o777, 0o600);
      equal((await gw.stop()).code, 0, gw.log);
    } finally {
      await gw.dispose();
    }
    const check = await cli(["check", "-c", config]);
    equal(check.code, 0, check.stderr);
  });
});

Deno.test("init and start refuse a listen flag that is not host:port, before writing anything", async () => {
  await withTempDir(async (dir) => {
    // Quotes would break out of the HCL string the address is written into.
    for (const bad of ["8080", '127.0.0.1:1" mode = "observe', "127.0.0.1:65536"]) {
      const init = await cli(["init", dir, "--proxy-listen", bad]);
      equal(init.code, 2, init.stderr);
      match(init.stderr, /^Usage error: --proxy-listen must be host:port, got '/m);
      const start = await cli(["start", "-c", join(dir, "gateway.hcl"), "--admin-listen", bad]);
      equal(start.code, 2, start.stderr);
      match(start.stderr, /^Usage error: --admin-listen must be host:port, got '/m);
    }
    deepEqual([...Deno.readDirSync(dir)], [], "a refused flag wrote files");
  });
});

Deno.test("start with an existing config serves its listen addresses and says the flags do not apply", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const unused = `127.0.0.1:${closedPort()}`;
    const gw = Running.spawn(["start", "-c", config, "--admin-listen", unused]);
    try {
      const base = await gw.adminUrl();
      ok(base !== `http://${unused}`, "the flag overrode the config");
      match(gw.log, /Note: .*gateway\.hcl exists; its own proxy_listen and admin_listen apply/);
      equal((await gw.stop()).code, 0, gw.log);
    } finally {
      await gw.dispose();
    }
  });
});

Deno.test("serve refuses a state directory other users can read, with the chmod that fixes it", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(dir);
    const state = join(dir, "state");
    await Deno.chmod(state, 0o755);
    const gw = Running.spawn(["serve", "-c", config]);
    try {
      const status = await gw.status(15_000);
      equal(status.code, 1, gw.log);
      match(gw.log, new RegExp(`chmod 700 ${state.replaceAll(".", "\\.")}`));
      equal(gw.log.includes("serving"), false);
    } finally {
      await gw.dispose();
    }
  });
});

for (const setting of ["admin_listen", "proxy_listen"]) {
  Deno.test(`serve names ${setting} when its port is taken`, async () => {
    await withTempDir(async (dir) => {
      const config = await initDir(dir);
      using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const address = `127.0.0.1:${taken.addr.port}`;
      const text = await Deno.readTextFile(config);
      const edited = text.replace(
        new RegExp(`${setting}\\s*=\\s*"[^"]*"`),
        `${setting} = "${address}"`,
      );
      ok(edited !== text, `no ${setting} in the starter config`);
      await Deno.writeTextFile(config, edited);
      const r = await cli(["serve", "-c", config]);
      equal(r.code, 1, r.stderr);
      match(
        r.stderr,
        new RegExp(`^Error: Cannot listen on gateway\\.${setting} '${address}': `, "m"),
      );
      match(r.stderr, /in use/i);
    });
  });
}
