// The gateway and its vault as real subprocesses: a passphrase-protected state directory
// (`init --passphrase-stdin`, then `serve --passphrase-stdin`), a wrong passphrase, a missing
// one, and a refused world-readable vault file.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, Running, useRandomAdminPort, withTempDir } from "./_helpers.ts";

const PASSPHRASE = "correct horse battery staple 42";

async function initWithPassphrase(dir: string): Promise<string> {
  const r = await cli(["init", dir, "--passphrase-stdin"], { input: `${PASSPHRASE}\n` });
  equal(r.code, 0, r.stderr);
  const config = join(dir, "gateway.hcl");
  await useRandomAdminPort(config);
  return config;
}

Deno.test("init --passphrase-stdin writes no key file; serve unlocks with the passphrase and refuses a wrong one", async () => {
  await withTempDir(async (dir) => {
    const config = await initWithPassphrase(dir);
    const state = join(dir, "state");
    const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
    equal(await exists(join(state, "master.key")), false, "a passphrase vault left a key file");
    equal(await exists(join(state, "ca.key")), false);

    const gw = Running.spawn(["serve", "-c", config, "--passphrase-stdin"], {
      input: `${PASSPHRASE}\n`,
    });
    try {
      await gw.waitFor(/serving: /, 30_000);
      equal((await gw.stop("SIGTERM", 10_000)).code, 0, gw.log);
    } finally {
      await gw.dispose();
    }
    ok(!gw.log.includes(PASSPHRASE), "the passphrase reached the log");

    const wrong = await cli(["serve", "-c", config, "--passphrase-stdin"], {
      input: "not the passphrase\n",
    });
    equal(wrong.code, 1);
    match(wrong.stderr, /passphrase is wrong/);
    ok(!wrong.stderr.includes("not the passphrase"));

    // No terminal and no --passphrase-stdin: a usage error that says what to pass.
    const missing = await cli(["serve", "-c", config]);
    equal(missing.code, 2, missing.stderr);
    match(missing.stderr, /pass --passphrase-stdin/);
  });
});

Deno.test("serve refuses a vault file other users can read, naming the chmod", async () => {
  await withTempDir(async (dir) => {
    const config = await initWithPassphrase(dir);
    const vault = join(dir, "state", "vault.db");
    await Deno.chmod(vault, 0o644);
    const r = await cli(["serve", "-c", config, "--passphrase-stdin"], {
      input: `${PASSPHRASE}\n`,
    });
    equal(r.code, 1);
    match(r.stderr, new RegExp(`chmod 600 ${vault.replaceAll("/", "\\/")}`));
    equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
});
