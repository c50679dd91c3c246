import assert from "node:assert/strict";
import { AgentRegistry } from "./mod.ts";
import { sha256, sha256Hex } from "./_token.ts";

async function withStateDir(fn: (stateDir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-agents-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("reauthenticate() hands back the same facts while the agents are unchanged", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const agent = registry.authenticate("bot", token)!;
    assert.equal(registry.reauthenticate(agent, "bot", token), agent);
    assert.equal(registry.reauthenticate(agent, "bot", token), agent);
    // Another agent added: the agents changed, so the pair is checked again in full, and holds.
    registry.add("other", "default");
    const again = registry.reauthenticate(agent, "bot", token)!;
    assert.deepEqual(again, { name: "bot", profile: "default" });
    assert.equal(registry.reauthenticate(again, "bot", token), again);
  });
});

Deno.test("reauthenticate() refuses once the agent is revoked or its token rotated", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const agent = registry.authenticate("bot", token)!;
    registry.rotate("bot");
    assert.equal(registry.reauthenticate(agent, "bot", token), null, "the rotated token");
    const fresh = registry.add("second", "default");
    const second = registry.authenticate("second", fresh)!;
    registry.revoke("second");
    assert.equal(registry.reauthenticate(second, "second", fresh), null, "a revoked agent");
  });
});

Deno.test("reauthenticate() sees another process's revoke, and never lends facts to another name", async () => {
  await withStateDir(async (dir) => {
    const registry = AgentRegistry.open(dir, { refreshIntervalMs: 10 });
    const token = registry.add("bot", "default");
    const other = registry.add("other", "default");
    const agent = registry.authenticate("bot", token)!;
    assert.equal(registry.reauthenticate(agent, "other", token), null, "bot's facts for 'other'");
    assert.equal(registry.reauthenticate(agent, "other", other)?.name, "other");
    AgentRegistry.open(dir).revoke("bot"); // as `clawpatrol agent revoke` in another process
    const deadline = Date.now() + 5_000;
    while (registry.reauthenticate(agent, "bot", token) !== null) {
      assert.ok(Date.now() < deadline, "the revoke made elsewhere was never seen");
      await new Promise((r) => setTimeout(r, 20));
    }
  });
});

Deno.test("reauthenticateToken() skips the hash while the agents are unchanged, and no longer", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const agent = registry.authenticateToken(token)!;
    // Not a hash: the facts come back for a token the registry never issued, as the caller
    // promises the token is the one `agent` authenticated with.
    assert.equal(registry.reauthenticateToken(agent, "not-checked"), agent);
    // Any change to the agents (a profile edit would make the kept facts wrong): checked in full.
    registry.add("other", "default");
    assert.equal(registry.reauthenticateToken(agent, "not-checked"), null);
    const again = registry.reauthenticateToken(agent, token)!;
    assert.deepEqual(again, agent);
    assert.equal(registry.reauthenticateToken(again, token), again);
    registry.rotate("bot");
    assert.equal(registry.reauthenticateToken(again, token), null, "the rotated token");
    const fresh = registry.add("second", "default");
    const second = registry.authenticateToken(fresh)!;
    registry.revoke("second");
    assert.equal(registry.reauthenticateToken(second, fresh), null, "a revoked agent");
  });
});

Deno.test("a token authenticates to one frozen facts object per agent until the agents change", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const first = registry.authenticateToken(token)!;
    assert.deepEqual(first, { name: "bot", profile: "default" });
    assert.ok(Object.isFrozen(first));
    assert.equal(registry.authenticateToken(token), first);
    assert.equal(registry.authenticate("bot", token), first);
    // A change loads new entries: new facts, and the old ones still judged by their token.
    registry.add("other", "default");
    const second = registry.authenticateToken(token)!;
    assert.notEqual(second, first);
    assert.deepEqual(second, first);
    assert.equal(registry.standing(first), "active");
    const rotated = registry.rotate("bot");
    assert.equal(registry.standing(second), "rotated");
    assert.equal(registry.authenticateToken(token), null);
    assert.equal(registry.authenticateToken(rotated)!.name, "bot");
  });
});

Deno.test("sha256Hex() is the hex of sha256(), the agents file's digest", () => {
  for (const token of ["", "cpat_abc", "é€😀", "x".repeat(512)]) {
    assert.equal(sha256Hex(token), sha256(token).toString("hex"));
  }
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});
