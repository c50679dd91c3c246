// Anchors end to end: a gateway signs the chains' heads into a file outside state_dir when it
// stops; `clawpatrol log pubkey` and `log verify --checkpoint` (real subprocesses) check them.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Gateway, MemoryLogger } from "../src/gateway/mod.ts";
import { completeFacts } from "../src/policy/mod.ts";
import { protocolOf } from "../src/protocols/registry.ts";
import { cli, initDir, withTempDir } from "./_helpers.ts";

/** init's config with anchors appended to `file`. */
async function anchoredConfig(dir: string, file: string): Promise<string> {
  const config = await initDir(dir);
  const text = await Deno.readTextFile(config);
  ok(!/receipts\s*\{/.test(text), "init writes no receipts block");
  await Deno.writeTextFile(
    config,
    text.replace(/gateway\s*\{/, `gateway {\n  receipts {\n    anchor_file = "${file}"\n  }`),
  );
  return config;
}

async function decideSome(config: string, n: number): Promise<void> {
  const gateway = await Gateway.start(config, {
    log: new MemoryLogger(),
    version: "t",
    watch: false,
  });
  try {
    for (let i = 0; i < n; i++) {
      const { receipt, finish } = gateway.guard.decide({
        protocol: "https",
        endpoint: "github",
        agent: { name: "bot", profile: "default" },
        facts: completeFacts(protocolOf("https")!, {
          http: { method: "GET", host: "api.github.com", path: `/repos/acme/api/pulls/${i}` },
        }),
        summary: `GET /repos/acme/api/pulls/${i}`,
      });
      ok(receipt);
      finish({ upstreamStatus: 200, bytesIn: 0, bytesOut: 0 });
    }
  } finally {
    await gateway.stop(); // The last anchor is made here, after the last receipt.
  }
}

Deno.test("anchors made by the gateway verify, and catch a tail cut afterwards; an untrusted key fails", async () => {
  await withTempDir(async (dir) => {
    const anchors = join(dir, "anchors.jsonl");
    const config = await anchoredConfig(join(dir, "gw"), anchors);
    await decideSome(config, 3);
    await decideSome(config, 2);
    const lines = (await Deno.readTextFile(anchors)).trim().split("\n");
    equal(lines.length, 2, "one anchor per stop");
    equal(JSON.parse(lines[1]).receipts.seq, 5);

    const pubkey = await cli(["log", "pubkey", "-c", config]);
    equal(pubkey.code, 0, pubkey.stderr);
    match(pubkey.stdout, /^ed25519 [A-Za-z0-9_-]{43} key [0-9a-f]{16}\n$/);
    equal(JSON.parse(lines[0]).key, pubkey.stdout.split(" ")[1]);

    const good = await cli(["log", "verify", "-c", config, "--checkpoint", anchors]);
    equal(good.code, 0, good.stdout + good.stderr);
    match(good.stdout, /2 anchors agree with the receipts/);

    const db = new DatabaseSync(join(dir, "gw", "state", "receipts.db"));
    db.exec("DELETE FROM receipts WHERE seq > 3");
    db.close();
    const cut = await cli(["log", "verify", "-c", config, "--checkpoint", anchors]);
    equal(cut.code, 1, cut.stdout + cut.stderr);
    match(cut.stdout, /hash chain intact/, "the chain alone still looks fine");
    match(cut.stdout, /ANCHOR .*the receipts end at seq 3, the anchor saw seq 5/);

    // A pinned key that did not sign them: nothing is trusted.
    const other = "A".repeat(43);
    const pinned = await cli([
      "log",
      "verify",
      "-c",
      config,
      "--checkpoint",
      anchors,
      "--pubkey",
      other,
    ]);
    equal(pinned.code, 1);
    match(pinned.stdout, /which is not trusted/);
  });
});

Deno.test("rotating the anchor key keeps anchors signed with the old one verifiable", async () => {
  await withTempDir(async (dir) => {
    const anchors = join(dir, "anchors.jsonl");
    const config = await anchoredConfig(join(dir, "gw"), anchors);
    await decideSome(config, 1);
    const rotated = await cli(["log", "pubkey", "--rotate", "-c", config]);
    equal(rotated.code, 0, rotated.stderr);
    await decideSome(config, 1);
    const keys = (await Deno.readTextFile(anchors)).trim().split("\n").map((l) =>
      JSON.parse(l).key
    );
    equal(keys.length, 2);
    ok(keys[0] !== keys[1], "the second anchor is signed with the new key");
    const verified = await cli(["log", "verify", "-c", config, "--checkpoint", anchors]);
    equal(verified.code, 0, verified.stdout + verified.stderr);
    match(verified.stdout, /2 anchors agree/);
  });
});

Deno.test("an anchor file inside state_dir, or a relative one, is refused", async () => {
  await withTempDir(async (dir) => {
    const inside = await anchoredConfig(join(dir, "a"), join(dir, "a", "state", "anchors.jsonl"));
    let message = "";
    try {
      await decideSome(inside, 0);
    } catch (err) {
      message = String(err);
    }
    match(message, /anchor_file .* is inside state_dir/);
    const relative = await anchoredConfig(join(dir, "b"), "anchors.jsonl");
    const check = await cli(["check", "-c", relative]);
    equal(check.code, 2);
    match(check.stderr + check.stdout, /gateway\.hcl:\d+.*'anchor_file' must be an absolute path/);
  });
});
