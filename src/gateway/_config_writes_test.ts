import { deepStrictEqual as assertEquals, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import type { Config } from "../config/mod.ts";
import { PROTOCOLS } from "../protocols/registry.ts";
import { loadAndCompile } from "./_loaded.ts";
import { ConfigWrites, DASHBOARD_RULES_FILE } from "./_config_writes.ts";
import { observeModeLine } from "./_rule_text.ts";

const CONFIG = (writes: boolean) =>
  `schema_version = 1
gateway {
  state_dir = "./state"
  dashboard_config_writes = ${writes}
}
endpoint "https" "api" {
  hosts = ["api.test"]
}
# Trialled first: it records what it would deny.
rule "trial-deletes" {
  endpoint  = https.api
  condition = "http.method == 'delete'" # not mode = "observe" here
  verdict   = "deny"
  mode      = "observe" # promoted later
}
rule "reads" {
  endpoint  = https.api
  condition = "http.method == 'get'"
  verdict   = "allow"
}
`;

const BLOCK = `rule "block-posts" {
  endpoint  = https.api
  priority  = 10
  condition = "http.method == 'post'"
  verdict   = "deny"
}`;

/** A ConfigWrites over a config in a temp dir, whose reload loads it again. */
async function writesOver(path: string) {
  let config: Config = (await loadAndCompile(path)).config;
  let reloads = 0;
  const writes = new ConfigWrites({
    configPath: path,
    config: () => config,
    protocols: PROTOCOLS,
    reload: async () => {
      reloads++;
      config = (await loadAndCompile(path)).config;
      return true;
    },
  });
  return { writes, config: () => config, reloads: () => reloads };
}

async function tempConfig(writes: boolean): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_writes_" });
  const path = join(dir, "gateway.hcl");
  await Deno.writeTextFile(path, CONFIG(writes));
  return path;
}

Deno.test("ConfigWrites refuses every write while dashboard_config_writes is off", async () => {
  const path = await tempConfig(false);
  const { writes, reloads } = await writesOver(path);
  equal(writes.enabled(), false);
  // Checking is allowed: it writes nothing.
  assertEquals(await writes.checkAppend(BLOCK), []);
  for (const result of [await writes.append(BLOCK), await writes.promote("trial-deletes")]) {
    equal(result.ok, false);
    match(!result.ok ? result.problems[0] : "", /dashboard_config_writes = true/);
  }
  equal(await Deno.readTextFile(path), CONFIG(false));
  equal(reloads(), 0);
});

Deno.test("ConfigWrites refuses a rule that breaks the config, with every problem and line", async () => {
  const path = await tempConfig(true);
  const { writes, reloads } = await writesOver(path);
  const broken = `rule "reads" {
  endpoint  = https.nowhere
  condition = "http.methd == 'post'"
  verdict   = "deny"
}`;
  const result = await writes.append(broken);
  equal(result.ok, false);
  const problems = result.ok ? [] : result.problems;
  // The duplicate name, the dangling endpoint: each at its line of the file as it would be.
  ok(
    problems.some((p) => /^gateway\.hcl:22: .*duplicate rule name .reads./.test(p)),
    problems.join("\n"),
  );
  ok(problems.some((p) => /^gateway\.hcl:23: .*nowhere/.test(p)), problems.join("\n"));
  // The first definition is named as the operator names the file, not by its absolute path.
  ok(problems.some((p) => p.endsWith("(first defined at gateway.hcl:16)")), problems.join("\n"));
  assertEquals(await writes.checkAppend(broken), problems);
  equal(await Deno.readTextFile(path), CONFIG(true), "nothing written");
  equal(reloads(), 0);
  const typo = await writes.append(BLOCK.replace("http.method", "http.methd"));
  match(typo.ok ? "" : typo.problems.join("\n"), /methd/);
});

Deno.test("ConfigWrites appends a valid rule atomically and reloads; a directory gets dashboard.hcl", async () => {
  const path = await tempConfig(true);
  await Deno.chmod(path, 0o640);
  const { writes, config, reloads } = await writesOver(path);
  equal(await writes.rulesFileName(), "gateway.hcl");
  const result = await writes.append(BLOCK);
  assertEquals(result, { ok: true, file: "gateway.hcl", reloaded: true });
  equal(await Deno.readTextFile(path), `${CONFIG(true)}\n${BLOCK}\n`);
  equal((await Deno.stat(path)).mode! & 0o777, 0o640, "the file keeps its mode");
  ok(config().rules.some((r) => r.name === "block-posts"));
  equal(reloads(), 1);
  // No temporary file left beside it.
  const names = [...Deno.readDirSync(join(path, ".."))].map((e) => e.name);
  assertEquals(names.sort(), ["gateway.hcl"]);

  // A config directory: the rules go to their own new file there.
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_writes_dir_" });
  await Deno.writeTextFile(join(dir, "gateway.hcl"), CONFIG(true));
  const inDir = await writesOver(dir);
  equal(await inDir.writes.rulesFileName(), DASHBOARD_RULES_FILE);
  const second = await inDir.writes.append(BLOCK);
  assertEquals(second, { ok: true, file: DASHBOARD_RULES_FILE, reloaded: true });
  equal(await Deno.readTextFile(join(dir, DASHBOARD_RULES_FILE)), `${BLOCK}\n`);
  ok(inDir.config().rules.some((r) => r.name === "block-posts"));
  // Its problems are named in that file, and it stays as it was.
  const again = await inDir.writes.append(BLOCK);
  match(again.ok ? "" : again.problems.join("\n"), /^dashboard\.hcl:\d+: .*block-posts/m);
  equal(await Deno.readTextFile(join(dir, DASHBOARD_RULES_FILE)), `${BLOCK}\n`);
});

Deno.test("ConfigWrites writes rules only: no other block, no <<file:…>> include", async () => {
  const path = await tempConfig(true);
  const dir = join(path, "..");
  await Deno.writeTextFile(join(dir, "secret.txt"), "vault key material");
  const { writes, reloads } = await writesOver(path);
  const endpoint = `endpoint "https" "extra" {\n  hosts = ["extra.test"]\n}`;
  const included = BLOCK.replace(
    'verdict   = "deny"',
    'verdict   = "deny"\n  reason = "<<file:secret.txt>>"',
  );
  const settings = `defaults {\n  no_match = "allow"\n}`;
  for (
    const [text, why] of [
      [endpoint, /other blocks/],
      [`${BLOCK}\n${endpoint}`, /other blocks/],
      [included, /includes are not allowed/],
      [settings, /other blocks|defined more than once/],
      ["# only a comment", /adds no rule/],
    ] as const
  ) {
    const result = await writes.append(text);
    equal(result.ok, false, text);
    match(result.ok ? "" : result.problems.join("\n"), why);
    // Checking says the same: nothing the write would refuse passes as valid.
    match((await writes.checkAppend(text)).join("\n"), why);
  }
  equal(await Deno.readTextFile(path), CONFIG(true), "nothing written");
  equal(reloads(), 0);
});

Deno.test("ConfigWrites never overwrites an edit made while the rule was being checked", async () => {
  const path = await tempConfig(true);
  const config = (await loadAndCompile(path)).config;
  const edited = `${CONFIG(true)}# the operator's edit\n`;
  let calls = 0;
  const writes = new ConfigWrites({
    configPath: path,
    // The second look at the config comes after the file was read for the append: edit it then.
    config: () => {
      if (++calls === 2) Deno.writeTextFileSync(path, edited);
      return config;
    },
    protocols: PROTOCOLS,
    reload: () => Promise.resolve(true),
  });
  const result = await writes.append(BLOCK);
  assertEquals(result, {
    ok: false,
    problems: ["gateway.hcl changed while the rule was checked: look again and retry"],
  });
  equal(await Deno.readTextFile(path), edited);
});

Deno.test("ConfigWrites answers a file it cannot read or write with a refusal, not an error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_writes_dir_" });
  await Deno.writeTextFile(join(dir, "gateway.hcl"), CONFIG(true));
  // Where the rules would go stands a directory: nothing can be read or renamed there.
  await Deno.mkdir(join(dir, DASHBOARD_RULES_FILE));
  const { writes, reloads } = await writesOver(dir);
  const result = await writes.append(BLOCK);
  equal(result.ok, false);
  match(result.ok ? "" : result.problems[0], /^Cannot write the config: /);
  match((await writes.checkAppend(BLOCK))[0], /^Cannot read the config: /);
  equal(reloads(), 0);
  // The next write is not stuck behind the failed one.
  match((await writes.promote("nope")).ok ? "" : "refused", /refused/);
});

Deno.test("ConfigWrites promotes an observe-mode rule by changing its mode line only", async () => {
  const path = await tempConfig(true);
  const { writes, config } = await writesOver(path);
  assertEquals(await writes.promote("trial-deletes"), {
    ok: true,
    file: "gateway.hcl",
    reloaded: true,
  });
  equal(
    await Deno.readTextFile(path),
    CONFIG(true).replace('mode      = "observe" # promoted', 'mode      = "enforce" # promoted'),
  );
  equal(config().rules.find((r) => r.name === "trial-deletes")?.mode, "enforce");
  const again = await writes.promote("trial-deletes");
  assertEquals(again, { ok: false, problems: ["Rule 'trial-deletes' is not in observe mode"] });
  const missing = await writes.promote("nope");
  assertEquals(missing, { ok: false, problems: ["No rule named 'nope' in the config"] });
});

Deno.test("observeModeLine finds the rule's own mode line, not one in a string, nested block or heredoc", () => {
  const text = `rule "a" {
  condition = "x == 'mode = \\"observe\\"'"
  reason = <<EOT
  mode = "observe"
EOT
  nested {
    mode = "observe"
  }
  /* mode = "observe" */
  mode = "observe" // trial
}
rule "b" {
  mode = "observe"
}
`;
  equal(observeModeLine(text, 1), 9);
  equal(observeModeLine(text, 12), 12);
  equal(observeModeLine('rule "c" {\n  verdict = "deny"\n}\nmode = "observe"\n', 1), null);
  // On one line with the block: not a line of its own, so the operator edits it.
  equal(observeModeLine('rule "d" { mode = "observe" }\n', 1), null);
});
