// The systemd unit `clawpatrol systemd-unit` writes, rated by systemd itself
// (`systemd-analyze security --offline=true`): exposure at most 2.0, "OK".
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, initDir, withTempDir } from "./_helpers.ts";

const BIN = "/opt/clawpatrol/bin/clawpatrol";

/** systemd's overall exposure score for the unit file at `path`. */
async function exposure(path: string): Promise<{ score: number; verdict: string; text: string }> {
  const out = await new Deno.Command("systemd-analyze", {
    args: ["security", "--offline=true", "--no-pager", path],
    env: { SYSTEMD_COLORS: "0" },
  }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const m = text.match(/Overall exposure level for .*: (\d+\.\d+) (\S+)/);
  ok(m, text);
  return { score: Number(m[1]), verdict: m[2], text };
}

Deno.test("the service unit runs serve sandboxed, rated OK (exposure ≤ 2.0) by systemd", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const unit = join(dir, "clawpatrol.service");
    const made = await cli(["systemd-unit", "-c", config, "--bin", BIN, "--output", unit]);
    equal(made.code, 0, made.stderr);
    const text = await Deno.readTextFile(unit);
    match(text, new RegExp(`^ReadWritePaths=${join(dir, "gw", "state")}$`, "m"));
    match(text, new RegExp(`^ExecStart=${BIN} serve -c ${config}$`, "m"));
    match(text, /^CapabilityBoundingSet=$/m, "no capabilities for ports above 1024");
    match(text, /^User=clawpatrol$/m);
    const rated = await exposure(unit);
    ok(rated.score <= 2.0, rated.text);
    equal(rated.verdict, "OK");
  });
});

Deno.test("a listen port below 1024 keeps only CAP_NET_BIND_SERVICE, still OK", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace(/proxy_listen = "[^"]*"/, 'proxy_listen = "127.0.0.1:443"'),
    );
    const made = await cli(["systemd-unit", "-c", config, "--bin", BIN, "--user", "gw"]);
    equal(made.code, 0, made.stderr);
    match(made.stdout, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m);
    match(made.stdout, /^User=gw$/m);
    const unit = join(dir, "clawpatrol.service");
    await Deno.writeTextFile(unit, made.stdout);
    const rated = await exposure(unit);
    ok(rated.score <= 2.0, rated.text);
  });
});

Deno.test("with transparent interception the root step runs before the gateway, which binds 53 and 443", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace(
        /^gateway \{/m,
        'gateway {\n  transparent {\n    vip_range = "10.79.0.0/16"\n  }',
      ),
    );
    const made = await cli(["systemd-unit", "-c", config, "--bin", BIN]);
    equal(made.code, 0, made.stderr);
    match(
      made.stdout,
      /^ExecStartPre=\+\/bin\/sh \/opt\/clawpatrol\/lib\/clawpatrol\/isolate\.sh prepare --vip-range 10\.79\.0\.0\/16 --link-range 10\.77\.0\.0\/16 --dns 10\.79\.0\.1 --dns-port 53 --ports "[0-9 ]*443[0-9 ]*" --port-offset 0$/m,
    );
    match(made.stdout, /^CapabilityBoundingSet=CAP_NET_BIND_SERVICE$/m, "port 53 and 443");
    const unit = join(dir, "clawpatrol.service");
    await Deno.writeTextFile(unit, made.stdout);
    const rated = await exposure(unit);
    ok(rated.score <= 2.0, rated.text);
  });
});

Deno.test("with a port offset the transparent gateway needs no capability at all", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const text = await Deno.readTextFile(config);
    await Deno.writeTextFile(
      config,
      text.replace(
        /^gateway \{/m,
        'gateway {\n  transparent {\n    vip_range   = "10.79.0.0/16"\n    port_offset = 20000\n  }',
      ),
    );
    const made = await cli(["systemd-unit", "-c", config, "--bin", BIN]);
    equal(made.code, 0, made.stderr);
    match(made.stdout, /--dns-port 20053 .*--port-offset 20000$/m);
    match(made.stdout, /^CapabilityBoundingSet=$/m);
  });
});

Deno.test("an app installed in a home directory is refused: the service could not see it", async () => {
  await withTempDir(async (dir) => {
    const config = await initDir(join(dir, "gw"));
    const made = await cli([
      "systemd-unit",
      "-c",
      config,
      "--bin",
      "/home/alice/.local/bin/clawpatrol",
    ]);
    equal(made.code, 2);
    match(made.stderr, /home directory.*install\.sh --prefix \/opt\/clawpatrol/);
  });
});
