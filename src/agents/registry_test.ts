import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentRegistry, AGENTS_FILE, isAgentName, TOKEN_PREFIX } from "./mod.ts";
import { withFileLock } from "./_lock.ts";

async function withStateDir(fn: (stateDir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol-agents-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(what: string, check: () => boolean, timeoutMs = 1_000): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - start;
}

Deno.test("add() returns a cpat_ token of 256 random bits that authenticates the agent", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("oncall-bot", "default");
    assert.match(token, /^cpat_[A-Za-z0-9_-]{43}$/);
    assert.ok(token.startsWith(TOKEN_PREFIX));
    assert.deepEqual(registry.authenticate("oncall-bot", token), {
      name: "oncall-bot",
      profile: "default",
    });
    assert.notEqual(registry.add("other", "default"), token, "tokens are random");
  });
});

Deno.test("the agents file holds the token's SHA-256, never the token, with mode 0600", async () => {
  await withStateDir(async (dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const rotated = registry.rotate("bot");
    const path = join(dir, AGENTS_FILE);
    const bytes = await Deno.readTextFile(path);
    for (const t of [token, rotated]) {
      assert.equal(bytes.includes(t), false, "token stored in the file");
      assert.equal(bytes.includes(t.slice(TOKEN_PREFIX.length)), false, "token body stored");
    }
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(rotated)),
    );
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(JSON.parse(bytes).agents[0].token_sha256, hex);
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
    // The atomic write leaves no temp file or lock behind.
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), [AGENTS_FILE]);
  });
});

Deno.test("list() returns every record with times and status, revoked ones included", async () => {
  await withStateDir((dir) => {
    let t = Date.parse("2026-01-01T00:00:00Z");
    const registry = AgentRegistry.open(dir, { now: () => new Date(t += 60_000) });
    registry.add("a", "default");
    registry.add("b", "ops");
    registry.rotate("a");
    registry.revoke("b");
    const list = registry.list();
    assert.deepEqual(list.map((r) => [r.name, r.profile]), [["a", "default"], ["b", "ops"]]);
    assert.equal(list[0].createdAt, "2026-01-01T00:01:00.000Z");
    assert.equal(list[0].rotatedAt, "2026-01-01T00:03:00.000Z");
    assert.equal(list[0].revokedAt, null);
    assert.equal(list[1].revokedAt, "2026-01-01T00:04:00.000Z");
    assert.match(list[0].tokenSha256, /^[0-9a-f]{64}$/);
    list[0].profile = "changed";
    assert.equal(registry.list()[0].profile, "default", "list() returns copies");
    // A fresh instance reads the same records back from disk.
    assert.deepEqual(AgentRegistry.open(dir).list(), registry.list());
  });
});

Deno.test("authenticate() returns null for a wrong token, unknown name, revoked agent or bad input", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const other = registry.add("other", "default");
    assert.equal(registry.authenticate("bot", other), null, "another agent's token");
    assert.equal(registry.authenticate("bot", token.slice(0, -1)), null);
    assert.equal(registry.authenticate("bot", token + "x"), null);
    assert.equal(registry.authenticate("bot", ""), null);
    assert.equal(registry.authenticate("nobody", token), null);
    assert.equal(registry.authenticate("BOT", token), null, "names are case-sensitive");
    assert.equal(registry.authenticate("bot", "x".repeat(100_000)), null);
    // deno-lint-ignore no-explicit-any
    const untyped = registry as any;
    assert.equal(untyped.authenticate(undefined, token), null);
    assert.equal(untyped.authenticate("bot", null), null);
    assert.equal(untyped.authenticate({}, 42), null);
    registry.revoke("bot");
    assert.equal(registry.authenticate("bot", token), null, "revoked");
    assert.ok(registry.authenticate("other", other), "revoking one agent leaves the others");
  });
});

Deno.test("authenticateToken() finds the agent by token alone; revoked, rotated or wrong tokens get null", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    const other = registry.add("other", "ops");
    assert.deepEqual(registry.authenticateToken(token), { name: "bot", profile: "default" });
    assert.deepEqual(registry.authenticateToken(other), { name: "other", profile: "ops" });
    assert.equal(registry.authenticateToken(token.slice(0, -1)), null);
    assert.equal(registry.authenticateToken(""), null);
    assert.equal(registry.authenticateToken("x".repeat(100_000)), null);
    // deno-lint-ignore no-explicit-any
    assert.equal((registry as any).authenticateToken(null), null);
    const rotated = registry.rotate("other");
    assert.equal(registry.authenticateToken(other), null, "the rotated-away token");
    assert.deepEqual(registry.authenticateToken(rotated), { name: "other", profile: "ops" });
    registry.revoke("bot");
    assert.equal(registry.authenticateToken(token), null, "revoked");
    // Another process's change is seen too.
    const second = AgentRegistry.open(dir, { refreshIntervalMs: 0 });
    const late = registry.add("late", "default");
    assert.deepEqual(second.authenticateToken(late), { name: "late", profile: "default" });
  });
});

Deno.test("rotate() issues a new token and the old one stops working", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    const old = registry.add("bot", "default");
    const fresh = registry.rotate("bot");
    assert.notEqual(fresh, old);
    assert.equal(registry.authenticate("bot", old), null);
    assert.deepEqual(registry.authenticate("bot", fresh), { name: "bot", profile: "default" });
    assert.notEqual(registry.list()[0].rotatedAt, null);
  });
});

Deno.test("add, revoke and rotate refuse unknown, duplicate and revoked agents with clear messages", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    registry.add("bot", "default");
    assert.throws(() => registry.add("bot", "default"), /^Error: Agent 'bot' already exists$/);
    assert.throws(() => registry.revoke("nobody"), /Unknown agent 'nobody'/);
    assert.throws(() => registry.rotate("nobody"), /Unknown agent 'nobody'/);
    registry.revoke("bot");
    assert.throws(() => registry.revoke("bot"), /Agent 'bot' is revoked/);
    assert.throws(() => registry.rotate("bot"), /Agent 'bot' is revoked/);
    assert.throws(() => registry.add("bot", "default"), /names are never reused/);
    assert.throws(() => registry.add("bot2", ""), TypeError);
  });
});

Deno.test("agent names: lowercase letters, digits, '.', '_', '-', at most 63, no ':'", async () => {
  for (const ok of ["a", "0", "oncall-bot", "bot.v2_x", "a".repeat(63)]) {
    assert.ok(isAgentName(ok), ok);
  }
  for (
    const bad of ["", "-bot", ".bot", "Bot", "bot:1", "bot name", "a".repeat(64), "bøt", "a/b"]
  ) {
    assert.equal(isAgentName(bad), false, bad);
  }
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(dir);
    assert.throws(() => registry.add("bot:1", "default"), (e: Error) => {
      assert.ok(e instanceof TypeError);
      assert.match(e.message, /^Invalid agent name 'bot:1': use 1 to 63 lowercase/);
      return true;
    });
    assert.deepEqual(registry.list(), []);
  });
});

Deno.test("another instance's revoke stops authentication here within ~100 ms, without refresh()", async () => {
  await withStateDir(async (dir) => {
    const gateway = AgentRegistry.open(dir);
    const cli = AgentRegistry.open(dir);
    const token = cli.add("bot", "default");
    await eventually(
      "the gateway to see the new agent",
      () => !!gateway.authenticate("bot", token),
    );
    cli.revoke("bot");
    const took = await eventually(
      "the gateway to see the revocation",
      () => gateway.authenticate("bot", token) === null,
    );
    // The registry re-stats at most every 100 ms; the slack absorbs timer lag under a loaded run.
    assert.ok(took < 250, `took ${took} ms`);
  });
});

Deno.test("refresh() picks up another instance's change at once", async () => {
  await withStateDir((dir) => {
    const gateway = AgentRegistry.open(dir, { refreshIntervalMs: 60_000 });
    const cli = AgentRegistry.open(dir);
    const token = cli.add("bot", "default");
    assert.equal(gateway.authenticate("bot", token), null, "not re-read before the interval");
    gateway.refresh();
    assert.ok(gateway.authenticate("bot", token));
    const rotated = cli.rotate("bot");
    gateway.refresh();
    assert.equal(gateway.authenticate("bot", token), null);
    assert.ok(gateway.authenticate("bot", rotated));
  });
});

Deno.test("a file that stops parsing keeps the previous agents and is reported once", async () => {
  await withStateDir(async (dir) => {
    const errors: Error[] = [];
    const cli = AgentRegistry.open(dir);
    const token = cli.add("bot", "default");
    const gateway = AgentRegistry.open(dir, { onError: (e) => errors.push(e) });
    const path = join(dir, AGENTS_FILE);
    await Deno.writeTextFile(path, "{ not json");
    gateway.refresh();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof SyntaxError);
    assert.match(errors[0].message, /^Cannot parse agents file '.*agents\.json': /);
    assert.ok(gateway.authenticate("bot", token), "previous contents stay in force");
    await sleep(120);
    gateway.authenticate("bot", token);
    assert.equal(errors.length, 1, "an unchanged broken file is not reported again");
    // Mutations never overwrite a file they could not read.
    assert.throws(() => cli.add("two", "default"), /Cannot parse agents file/);
    assert.equal(await Deno.readTextFile(path), "{ not json");
  });
});

Deno.test("open() on a corrupt agents file throws a SyntaxError naming the file and the problem", async () => {
  await withStateDir(async (dir) => {
    const path = join(dir, AGENTS_FILE);
    const cases: [string, RegExp][] = [
      ["[]", /expected a JSON object/],
      ['{"schema_version": 2, "agents": []}', /unsupported schema_version 2/],
      ['{"schema_version": 1, "agents": [{"name": "Bad:x"}]}', /agents\[0\]: invalid name/],
      [
        '{"schema_version": 1, "agents": [{"name": "a", "profile": "p", "token_sha256": "abc"}]}',
        /agents\[0\] \('a'\): token_sha256/,
      ],
    ];
    for (const [text, problem] of cases) {
      await Deno.writeTextFile(path, text);
      assert.throws(() => AgentRegistry.open(dir), (e: Error) => {
        assert.ok(e instanceof SyntaxError, String(e));
        assert.ok(e.message.startsWith(`Cannot parse agents file '${path}': `), e.message);
        assert.match(e.message, problem);
        return true;
      });
    }
  });
});

Deno.test("a missing state dir or agents file means no agents yet", async () => {
  await withStateDir((dir) => {
    const registry = AgentRegistry.open(join(dir, "absent"));
    assert.deepEqual(registry.list(), []);
    assert.equal(registry.authenticate("bot", "cpat_x"), null);
  });
});

Deno.test("a deleted agents file authenticates nobody (fail closed)", async () => {
  await withStateDir(async (dir) => {
    const registry = AgentRegistry.open(dir);
    const token = registry.add("bot", "default");
    await Deno.remove(join(dir, AGENTS_FILE));
    registry.refresh();
    assert.equal(registry.authenticate("bot", token), null);
  });
});

Deno.test("a live lock is waited for; one older than the stale timeout is taken over", async () => {
  await withStateDir(async (dir) => {
    const lock = join(dir, `${AGENTS_FILE}.lock`);
    const registry = AgentRegistry.open(dir, { lockStaleMs: 300 });
    Deno.writeTextFileSync(lock, "12345:someone-else\n");
    const start = performance.now();
    registry.add("bot", "default");
    const waited = performance.now() - start;
    assert.ok(waited >= 250, `waited only ${waited} ms for a live lock`);
    assert.equal(await Deno.stat(lock).then(() => true, () => false), false, "lock removed");

    Deno.writeTextFileSync(lock, "12345:crashed\n");
    const old = new Date(Date.now() - 60_000);
    Deno.utimeSync(lock, old, old);
    const t = performance.now();
    AgentRegistry.open(dir).add("two", "default"); // default stale timeout: 10 s
    assert.ok(performance.now() - t < 1_000, "a stale lock is taken over at once");
    assert.deepEqual(registry.list().map((r) => r.name), ["bot", "two"]);
  });
});

Deno.test("withFileLock() gives up on a live lock after waitMs, naming the lock file", async () => {
  await withStateDir((dir) => {
    const lock = join(dir, "x.lock");
    Deno.writeTextFileSync(lock, "held\n");
    assert.throws(
      () => withFileLock(lock, () => 1, { staleMs: 10_000, waitMs: 50 }),
      /Cannot lock '.*x\.lock': another clawpatrol command holds it/,
    );
    assert.equal(Deno.readTextFileSync(lock), "held\n", "a live lock is left alone");
  });
});

Deno.test("concurrent adds from several processes all land (the lock serialises them)", async () => {
  await withStateDir(async (dir) => {
    const registryUrl = new URL("./registry.ts", import.meta.url).href;
    const script = (p: number) =>
      `import { AgentRegistry } from "${registryUrl}";
       const r = AgentRegistry.open(${JSON.stringify(dir)});
       for (let i = 0; i < 5; i++) r.add("p${p}-" + i, "default");`;
    const runs = [0, 1, 2, 3].map((p) =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--quiet", script(p)],
        stdout: "null",
        stderr: "piped",
      }).output()
    );
    for (const out of await Promise.all(runs)) {
      assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    }
    const names = AgentRegistry.open(dir).list().map((r) => r.name).sort();
    assert.equal(names.length, 20, names.join(" "));
  });
});

Deno.test("standing() tells sessions their agent was revoked, or rotated since they logged in", async () => {
  await withStateDir((dir) => {
    const gateway = AgentRegistry.open(dir, { refreshIntervalMs: 0 });
    const cli = AgentRegistry.open(dir);
    const token = cli.add("bot", "default");
    cli.add("other", "default");
    const byName = gateway.authenticate("bot", token)!;
    const byToken = gateway.authenticateToken(token)!;
    const byScram = gateway.scramVerifiers()!.keys.find((k) => k.agent.name === "bot")!.agent;
    const other = gateway.authenticateToken(cli.rotate("other"))!;
    for (const agent of [byName, byToken, byScram, other]) {
      assert.equal(gateway.standing(agent), "active");
    }
    const fresh = cli.rotate("bot");
    for (const agent of [byName, byToken, byScram]) {
      assert.equal(gateway.standing(agent), "rotated");
    }
    assert.equal(gateway.standing(other), "active", "another agent's change is not this one's");
    const after = gateway.authenticateToken(fresh)!;
    assert.equal(gateway.standing(after), "active");
    cli.revoke("bot");
    assert.equal(gateway.standing(after), "revoked");
    // Facts the registry did not hand out are judged by name alone.
    assert.equal(gateway.standing({ name: "bot", profile: "default" }), "revoked");
    assert.equal(gateway.standing({ name: "other", profile: "default" }), "active");
    assert.equal(gateway.standing({ name: "never", profile: "default" }), "revoked");
  });
});

Deno.test("watch() reports another instance's revoke within its interval, until stopped", async () => {
  await withStateDir(async (dir) => {
    const gateway = AgentRegistry.open(dir);
    const cli = AgentRegistry.open(dir);
    cli.add("bot", "default");
    let changes = 0;
    const stop = gateway.watch(() => changes++, 20);
    try {
      await eventually("the new agent", () => changes > 0);
      const seen = changes;
      cli.revoke("bot");
      const ms = await eventually("the revocation", () => changes > seen);
      assert.ok(ms < 1_000, `seen after ${ms} ms`);
    } finally {
      stop();
    }
    // The interval is gone (the test's op sanitizer checks), and so is the callback.
    const stopped = changes;
    cli.add("later", "default");
    gateway.refresh();
    await Promise.resolve();
    assert.equal(changes, stopped, "no calls after stop()");
  });
});
