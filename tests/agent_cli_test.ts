// `clawpatrol agent` end to end, as real subprocesses against an init'ed directory: enrolment,
// listing, revoking and rotating tokens.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { AgentRegistry } from "../src/agents/mod.ts";
import { cli, initDir, withTempDir } from "./_helpers.ts";
import { addAgent, lines, TOKEN } from "./_agent_cli_fixture.ts";

Deno.test("agent add prints a cpat_ token once, as the last line, that authenticates the agent", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const r = await cli(["agent", "add", "oncall-bot", "--profile", "default"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const out = lines(r.stdout);
    equal(out.length, 2, r.stdout);
    match(out[0], /^Added agent 'oncall-bot' with profile 'default'\. .*shown only this once/);
    match(out[1], TOKEN);
    equal(r.stderr, "");
    const registry = AgentRegistry.open(join(dir, "state"));
    deepEqual(registry.authenticate("oncall-bot", out[1]), {
      name: "oncall-bot",
      profile: "default",
    });
    equal(
      (await Deno.readTextFile(join(dir, "state", "agents.json"))).includes(out[1]),
      false,
      "token stored",
    );
  });
});

Deno.test("agent add with an unknown profile exits 2 listing the config's profiles", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const r = await cli(["agent", "add", "bot", "--profile", "nope"], { cwd: dir });
    equal(r.code, 2);
    deepEqual(lines(r.stderr), [
      "Usage error: unknown profile 'nope': the config defines 'default'",
    ]);
    equal(r.stdout, "");
    deepEqual(AgentRegistry.open(join(dir, "state")).list(), []);
  });
});

Deno.test("agent add refuses bad names (2), missing --profile (2) and a reused name (1)", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const bad = await cli(["agent", "add", "Bot:1", "--profile", "default"], { cwd: dir });
    equal(bad.code, 2);
    match(bad.stderr, /^Usage error: invalid agent name 'Bot:1'/);
    const noProfile = await cli(["agent", "add", "bot"], { cwd: dir });
    equal(noProfile.code, 2);
    match(noProfile.stderr, /agent add needs --profile PROFILE/);
    await addAgent(dir, "bot");
    const again = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(again.code, 1);
    deepEqual(lines(again.stderr), ["Error: Agent 'bot' already exists"]);
    equal((await cli(["agent", "revoke", "bot"], { cwd: dir })).code, 0);
    const reused = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(reused.code, 1);
    match(reused.stderr, /names are never reused/);
  });
});

Deno.test("agent add without a state dir exits 1 saying to run init", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    await Deno.remove(join(dir, "state"), { recursive: true });
    const r = await cli(["agent", "add", "bot", "--profile", "default"], { cwd: dir });
    equal(r.code, 1);
    match(r.stderr, /State directory '.*state' does not exist: run 'clawpatrol init'/);
  });
});

Deno.test("agent list shows name, profile, times and status, never a token or its hash", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const empty = await cli(["agent", "list"], { cwd: dir });
    equal(empty.code, 0);
    match(empty.stdout, /^No agents yet/);
    const a = await addAgent(dir, "alpha");
    const b = await addAgent(dir, "beta");
    equal((await cli(["agent", "revoke", "beta"], { cwd: dir })).code, 0);
    const hashes = AgentRegistry.open(join(dir, "state")).list().map((r) => r.tokenSha256);

    const r = await cli(["agent", "list"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const table = lines(r.stdout);
    match(table[0], /^NAME\s+PROFILE\s+CREATED\s+ROTATED\s+STATUS$/);
    match(table[1], /^alpha\s+default\s+\d{4}-\d\d-\d\dT[\d:]+Z\s+-\s+active$/);
    match(table[2], /^beta\s+default\s+\S+Z\s+-\s+revoked \S+Z$/);
    equal(table.length, 3);

    const json = await cli(["agent", "list", "--json"], { cwd: dir });
    equal(json.code, 0, json.stderr);
    const records = JSON.parse(json.stdout);
    deepEqual(records.map((x: { name: string; status: string }) => [x.name, x.status]), [
      ["alpha", "active"],
      ["beta", "revoked"],
    ]);
    for (const secret of [a, b, a.slice(5), b.slice(5), ...hashes]) {
      equal(r.stdout.includes(secret), false, "secret in the table");
      equal(json.stdout.includes(secret), false, "secret in the JSON");
    }
  });
});

Deno.test("agent revoke stops the token from authenticating; unknown agents exit 1", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const token = await addAgent(dir, "bot");
    const registry = AgentRegistry.open(join(dir, "state"));
    ok(registry.authenticate("bot", token));
    const r = await cli(["agent", "revoke", "bot"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    match(r.stdout, /^Revoked agent 'bot'/);
    registry.refresh();
    equal(registry.authenticate("bot", token), null);
    const twice = await cli(["agent", "revoke", "bot"], { cwd: dir });
    equal(twice.code, 1);
    match(twice.stderr, /^Error: Agent 'bot' is revoked/);
    const unknown = await cli(["agent", "revoke", "nobody"], { cwd: dir });
    equal(unknown.code, 1);
    deepEqual(lines(unknown.stderr), ["Error: Unknown agent 'nobody'"]);
  });
});

Deno.test("agent rotate prints a new token once and the old one stops working", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const old = await addAgent(dir, "bot");
    const r = await cli(["agent", "rotate", "bot"], { cwd: dir });
    equal(r.code, 0, r.stderr);
    const fresh = lines(r.stdout).at(-1)!;
    match(fresh, TOKEN);
    ok(fresh !== old);
    const registry = AgentRegistry.open(join(dir, "state"));
    equal(registry.authenticate("bot", old), null);
    ok(registry.authenticate("bot", fresh));
    const listed = await cli(["agent", "list"], { cwd: dir });
    match(lines(listed.stdout)[1], /^bot\s+default\s+\S+Z\s+\S+Z\s+active$/, "rotated time shown");
  });
});

Deno.test("agent without a subcommand, or with an unknown one, is a usage error", async () => {
  await withTempDir(async (dir) => {
    await initDir(dir);
    const none = await cli(["agent"], { cwd: dir });
    equal(none.code, 2);
    match(none.stderr, /agent needs a subcommand: add, list, revoke or rotate/);
    const unknown = await cli(["agent", "delete", "bot"], { cwd: dir });
    equal(unknown.code, 2);
    match(unknown.stderr, /unknown agent subcommand 'delete'/);
  });
});
