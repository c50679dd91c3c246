// `clawpatrol vault` end to end, as real subprocesses against an init'ed directory: values in from
// stdin (never argv), out never, key rotation, passphrase vaults, and the no-echo terminal prompt.
import { deepEqual, equal, match, notEqual, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_SLOT,
  generateMasterKey,
  MASTER_KEY_FILE,
  openVault,
  parseMasterKey,
  Vault,
  VAULT_FILE,
} from "../src/credentials/mod.ts";
import { cli, type CliResult, initDir, MAIN, withTempDir } from "./_helpers.ts";

const SECRET = "ghp_VAULTCLI0123456789abcdefghijklmnopq";

/** The CLI in `cwd` with `input` on stdin. */
function cliWithStdin(args: string[], cwd: string, input: string, env?: Record<string, string>) {
  return cli(args, { cwd, input, env });
}

/** Asserts `secret` is in neither stream of `r`. */
function noLeak(r: CliResult, ...secrets: string[]): void {
  for (const secret of secrets) {
    ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), `'${secret}' was printed`);
  }
}

async function stored(dir: string, name: string, slot = DEFAULT_SLOT): Promise<string | null> {
  // create: a state directory from before the vault gets one, as the gateway would give it.
  const vault = await openVault(join(dir, "state"), { create: true });
  try {
    return await vault.get(name, slot);
  } finally {
    vault.close();
  }
}

Deno.test("vault set reads the value from stdin; list shows its name and fingerprint, never the value", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const set = await cliWithStdin(["vault", "set", "github_pat"], dir, `${SECRET}\n`);
    equal(set.code, 0, set.stderr);
    const fingerprint = /^Stored github_pat \(slot value, fingerprint ([0-9a-f]{12})\)$/m.exec(
      set.stdout,
    )?.[1];
    ok(fingerprint, set.stdout);
    noLeak(set, SECRET);
    // Exactly one trailing newline is dropped.
    equal(await stored(dir, "github_pat"), SECRET);

    const list = await cli(["vault", "list"], { cwd: dir });
    equal(list.code, 0, list.stderr);
    match(list.stdout, new RegExp(`^github_pat\\s+value\\s+\\S+Z\\s+${fingerprint}\\s*$`, "m"));
    noLeak(list, SECRET);

    const json = await cli(["vault", "list", "--json"], { cwd: dir });
    equal(json.code, 0, json.stderr);
    const entry = JSON.parse(json.stdout).find((e: { name: string }) => e.name === "github_pat");
    deepEqual({ ...entry, updatedAt: typeof entry.updatedAt }, {
      name: "github_pat",
      slot: "value",
      updatedAt: "string",
      fingerprint,
      configured: true,
    });
    noLeak(json, SECRET);

    // Setting it again says so; a CRLF line end is dropped too; --slot stores beside it.
    const again = await cliWithStdin(["vault", "set", "github_pat"], dir, "second\r\n");
    match(again.stdout, /^Replaced github_pat \(slot value, fingerprint [0-9a-f]{12}\)$/m);
    equal(await stored(dir, "github_pat"), "second");
    const slot = await cliWithStdin(["vault", "set", "github_pat", "--slot", "old"], dir, SECRET);
    equal(slot.code, 0, slot.stderr);
    equal(await stored(dir, "github_pat", "old"), SECRET);
  });
});

Deno.test("vault set refuses a value on the command line without printing it", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const r = await cli(["vault", "set", "github_pat", SECRET], { cwd: dir });
    equal(r.code, 2);
    match(r.stderr, /values? (is )?read from stdin or a prompt, never from the command line/);
    noLeak(r, SECRET);
    equal(await stored(dir, "github_pat"), null);
  });
});

Deno.test("vault set refuses an empty value and warns for a name the config does not declare", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const empty = await cliWithStdin(["vault", "set", "github_pat"], dir, "\n");
    equal(empty.code, 2);
    match(empty.stderr, /empty value for 'github_pat': nothing stored/);
    equal(await stored(dir, "github_pat"), null);

    const stray = await cliWithStdin(["vault", "set", "not_configured"], dir, "value-x");
    equal(stray.code, 0, stray.stderr);
    match(stray.stderr, /Warning: 'not_configured' is not a credential in /);
    const list = await cli(["vault", "list"], { cwd: dir });
    match(list.stdout, /^not_configured\s+value\s+.*not in config$/m);
    // Configured credentials without a value are pointed out.
    match(list.stderr, /credential 'github_pat' has no value in the vault/);
  });
});

Deno.test("vault rm removes a value and fails when nothing matched", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    await cliWithStdin(["vault", "set", "github_pat"], dir, SECRET);
    await cliWithStdin(["vault", "set", "github_pat", "--slot", "old"], dir, SECRET);
    const one = await cli(["vault", "rm", "github_pat", "--slot", "old"], { cwd: dir });
    equal(one.code, 0, one.stderr);
    match(one.stdout, /Removed github_pat \(slot old\)/);
    equal(await stored(dir, "github_pat"), SECRET);
    const all = await cli(["vault", "rm", "github_pat"], { cwd: dir });
    equal(all.code, 0, all.stderr);
    equal(await stored(dir, "github_pat"), null);
    const none = await cli(["vault", "rm", "github_pat"], { cwd: dir });
    equal(none.code, 1);
    match(none.stderr, /Nothing stored for 'github_pat'/);
    const gateway = await cli(["vault", "rm", "@gateway"], { cwd: dir });
    equal(gateway.code, 2);
    match(gateway.stderr, /gateway's own entry/);
  });
});

Deno.test("vault rotate-key writes a new master.key; the old key no longer opens the vault", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    await cliWithStdin(["vault", "set", "github_pat"], dir, SECRET);
    const keyFile = join(dir, "state", MASTER_KEY_FILE);
    const oldText = await Deno.readTextFile(keyFile);
    const r = await cli(["vault", "rotate-key"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    match(r.stdout, /Rotated the vault key: the new key is in .*master\.key/);
    const newText = await Deno.readTextFile(keyFile);
    notEqual(newText, oldText);
    equal((await Deno.stat(keyFile)).mode! & 0o777, 0o600);
    deepEqual(
      [...Deno.readDirSync(join(dir, "state"))].filter((e) => e.name.includes(".new")),
      [],
    );

    const list = await cli(["vault", "list"], { cwd: dir });
    equal(list.code, 0, list.stderr);
    match(list.stdout, /^github_pat\s+value/m);
    equal(await stored(dir, "github_pat"), SECRET);

    const vaultFile = join(dir, "state", VAULT_FILE);
    await rejects(
      () =>
        Vault.open(vaultFile, { kind: "key", key: parseMasterKey(oldText, "old"), origin: "old" }),
      /the key from old does not match/,
    );
    const withOld = await cli(["vault", "list"], {
      cwd: dir,
      env: { CLAWPATROL_MASTER_KEY: oldText.trim() },
    });
    equal(withOld.code, 1);
    match(withOld.stderr, /the key from CLAWPATROL_MASTER_KEY does not match/);
  });
});

Deno.test("vault rotate-key with CLAWPATROL_MASTER_KEY takes the new key from stdin", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const keyFile = join(dir, "state", MASTER_KEY_FILE);
    const envKey = (await Deno.readTextFile(keyFile)).trim();
    const env = { CLAWPATROL_MASTER_KEY: envKey };
    await cliWithStdin(["vault", "set", "github_pat"], dir, SECRET, env);

    const refused = await cli(["vault", "rotate-key"], { cwd: dir, env });
    equal(refused.code, 2);
    match(refused.stderr, /pass the new key on stdin with --new-key-stdin/);

    const next = btoa(String.fromCharCode(...generateMasterKey()));
    const r = await cliWithStdin(["vault", "rotate-key", "--new-key-stdin"], dir, `${next}\n`, env);
    equal(r.code, 0, r.stderr);
    match(r.stdout, /set CLAWPATROL_MASTER_KEY to the new key/);
    noLeak(r, next, envKey);
    // The new key is never written to disk; the old key file now says so.
    equal((await Deno.readTextFile(keyFile)).trim(), envKey);
    match(r.stderr, /master\.key does not hold the new key/);

    const ok1 = await cli(["vault", "list"], { cwd: dir, env: { CLAWPATROL_MASTER_KEY: next } });
    equal(ok1.code, 0, ok1.stderr);
    const old = await cli(["vault", "list"], { cwd: dir, env });
    equal(old.code, 1);
    match(old.stderr, /does not match/);
  });
});

Deno.test("--passphrase-stdin: convert to a passphrase vault, set and list with it, convert back", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const state = join(dir, "state");
    await cliWithStdin(["vault", "set", "github_pat"], dir, SECRET);
    const passphrase = "correct horse battery staple";

    const to = await cliWithStdin(
      ["vault", "rotate-key", "--to-passphrase", "--passphrase-stdin"],
      dir,
      `${passphrase}\n`,
    );
    equal(to.code, 0, to.stderr);
    match(to.stdout, /now passphrase-protected; .*master\.key is deleted/);
    equal(await Deno.stat(join(state, MASTER_KEY_FILE)).catch(() => null), null);
    equal(Vault.unlockKind(join(state, VAULT_FILE)), "passphrase");

    const noPass = await cli(["vault", "list"], { cwd: dir });
    equal(noPass.code, 2);
    match(noPass.stderr, /no terminal to ask for the vault passphrase on: pass --passphrase-stdin/);

    const set = await cliWithStdin(
      ["vault", "set", "openai_key", "--passphrase-stdin"],
      dir,
      `${passphrase}\nsk-second-value\n`,
    );
    equal(set.code, 0, set.stderr);
    noLeak(set, passphrase, "sk-second-value");

    const list = await cliWithStdin(
      ["vault", "list", "--passphrase-stdin"],
      dir,
      `${passphrase}\n`,
    );
    equal(list.code, 0, list.stderr);
    match(list.stdout, /^github_pat\s+value/m);
    match(list.stdout, /^openai_key\s+value/m);
    noLeak(list, passphrase, SECRET, "sk-second-value");

    const wrong = await cliWithStdin(["vault", "list", "--passphrase-stdin"], dir, "hunter2-xyz\n");
    equal(wrong.code, 1);
    match(wrong.stderr, /the passphrase is wrong/);
    noLeak(wrong, "hunter2-xyz");

    const back = await cliWithStdin(
      ["vault", "rotate-key", "--to-key", "--passphrase-stdin"],
      dir,
      `${passphrase}\n`,
    );
    equal(back.code, 0, back.stderr);
    match(back.stdout, /now unlocked by a key: the new key is in .*master\.key/);
    equal(await stored(dir, "openai_key"), "sk-second-value");
    equal(await stored(dir, "github_pat"), SECRET);
  });
});

Deno.test("vault refuses --passphrase-stdin for a key vault and options of other subcommands", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    await cliWithStdin(["vault", "set", "openai_key"], dir, "sk-first");
    const stray = await cliWithStdin(
      ["vault", "set", "github_pat", "--passphrase-stdin"],
      dir,
      `not-a-passphrase\n${SECRET}\n`,
    );
    equal(stray.code, 2);
    match(stray.stderr, /is unlocked by a key .*: leave out --passphrase-stdin/);
    equal(await stored(dir, "github_pat"), null);
    const json = await cli(["vault", "rm", "x", "--json"], { cwd: dir });
    equal(json.code, 2);
    match(json.stderr, /--json is not an option of 'vault rm'/);
    const unknown = await cli(["vault", "show", "x"], { cwd: dir });
    equal(unknown.code, 2);
    match(unknown.stderr, /unknown vault subcommand 'show'/);
  });
});

/** `script` gives the child a real terminal, so the no-echo prompt can be driven. */
const HAS_SCRIPT = await new Deno.Command("script", { args: ["--version"], stdout: "null" })
  .output().then((o) => o.success).catch(() => false);

/** Runs `vault set NAME` on a terminal; types `keys` once the prompt shows. */
async function setOnTerminal(dir: string, name: string, keys: string): Promise<CliResult> {
  const command = [Deno.execPath(), "run", "-A", "--quiet", MAIN, "vault", "set", name]
    .map((a) => `'${a}'`).join(" ");
  const env = Deno.env.toObject();
  delete env.CLAWPATROL_CONFIG;
  delete env.CLAWPATROL_MASTER_KEY;
  const child = new Deno.Command("script", {
    args: ["-qec", command, "/dev/null"],
    cwd: dir,
    env: { ...env, NO_COLOR: "1" },
    clearEnv: true,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let seen = "";
  const reader = child.stdout.getReader();
  const writer = child.stdin.getWriter();
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!seen.includes("Value for")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value);
    }
    await writer.write(new TextEncoder().encode(keys));
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += decoder.decode(value);
    }
    await writer.close().catch(() => {});
    const status = await child.status;
    const stderr = decoder.decode(
      await new Response(child.stderr).arrayBuffer().then((b) => new Uint8Array(b)),
    );
    return { code: status.code, stdout: seen, stderr };
  } finally {
    clearTimeout(timer);
  }
}

Deno.test({
  name:
    "vault set on a terminal prompts without echo, handles Backspace, and Ctrl-C stores nothing",
  ignore: !HAS_SCRIPT,
  fn: async () => {
    await withTempDir(async (dir) => {
      await initDir(dir);
      const typed = await setOnTerminal(dir, "github_pat", "ghp_typedX\x7f_secret\r");
      equal(typed.code, 0, typed.stdout + typed.stderr);
      match(typed.stdout, /Value for github_pat: /);
      match(typed.stdout, /Stored github_pat \(slot value, fingerprint [0-9a-f]{12}\)/);
      ok(!typed.stdout.includes("ghp_typed"), typed.stdout);
      equal(await stored(dir, "github_pat"), "ghp_typed_secret");

      const cancelled = await setOnTerminal(dir, "other_cred", "partial\x03");
      equal(cancelled.code, 130, cancelled.stdout);
      match(cancelled.stdout, /Cancelled: nothing changed/);
      equal(await stored(dir, "other_cred"), null);
    });
  },
});
