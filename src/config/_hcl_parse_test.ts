import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import { hclInTypeScript, parseHcl } from "./_hcl_parse.ts";
import { corpus, firstProblem, ours, Reference } from "./_hcl_testing.ts";
import { hclProblems } from "./load.ts";

Deno.test("parseHcl() gives hcl2json's JSON for the repo's configs and the CLI's", async () => {
  const reference = new Reference();
  const configs = await corpus();
  ok(configs.some(([name]) => name === "rules/kubernetes.hcl"), "the corpus has the rule packs");
  for (const [name, text] of configs) {
    const theirs = await reference.parse(name, text);
    ok("json" in theirs, `hcl2json refused ${name}: ${JSON.stringify(theirs)}`);
    deepStrictEqual(ours(name, text), theirs, name);
  }
});

Deno.test("parseHcl() returns hcl2json's shapes: blocks by type then label, sorted keys", () => {
  const json = parseHcl(
    "t.hcl",
    [
      'rule "b" { verdict = "deny" }',
      'rule "a" {}',
      'rule "b" {}',
      'endpoint "https" "gh" { hosts = ["a", "b",] }',
      "gateway {",
      "  limits {}",
      "}",
      "schema_version = 1",
    ].join("\n"),
  );
  equal(
    JSON.stringify(json),
    JSON.stringify({
      endpoint: { https: { gh: [{ hosts: ["a", "b"] }] } },
      gateway: [{ limits: [{}] }],
      rule: { a: [{}], b: [{ verdict: "deny" }, {}] },
      schema_version: 1,
    }),
  );
});

Deno.test("parseHcl() writes strings as templates and other expressions as their source", () => {
  const cases: [string, unknown][] = [
    ['"$${x} %%{y}"', "$${x} %%{y}"],
    ['"\\u0024{x}"', "$${x}"],
    ['"a ${x.y} b"', "a ${x.y} b"],
    ['"${1}"', 1],
    ['"a${1.50}"', "a1.5"],
    ['"${x ? "y" : "z"}"', '${x ? "y" : "z"}'],
    ['"a${x ? "y" : ""}"', "a%{if x}y%{endif}"],
    ["https.github /* c */ .x", "${https.github /* c */ .x}"],
    ["f(a,\n  b)", "${f(a,\n  b)}"],
    ["-1.5e3", -1500],
    ["1e400", null],
    ["{ a.b = 1, (c) = 2, 3 = 3 }", { "3": 3, "${(c)}": 2, "a.b": 1 }],
    ["<<-EOT\n    a\n      b\n    EOT", "a\n  b\n"],
  ];
  for (const [expr, want] of cases) {
    equal(JSON.stringify(parseHcl("t.hcl", `v = ${expr}\n`).v), JSON.stringify(want), expr);
  }
});

Deno.test("parseHcl() fails with hcl2json's message, which hclProblems() splits", () => {
  const message = (text: string) => {
    try {
      parseHcl("dir/t.hcl", text);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error("expected a failure");
  };
  equal(
    message('a = 1\nb = "x\n'),
    "parse config: [dir/t.hcl:2,7-3,1: Invalid multi-line string; Quoted strings may not be " +
      "split over multiple lines. To produce a multi-line string, either use the \\n escape to " +
      'represent a newline character or use the "heredoc" multi-line template syntax. ' +
      "dir/t.hcl:2,7-3,1: Unterminated template string; No closing marker was found for the " +
      "string.]",
  );
  deepStrictEqual(hclProblems("dir/t.hcl", message("a { b = 1, c = 2 }\n")).map((p) => p.line), [
    1,
  ]);
  equal(
    message('rule {}\nrule "x" {}\n'),
    "convert to HCL: convert file: convert body: convert block: Unable to convert Block to JSON: " +
      "rule.x",
  );
  equal(
    message("a = -true\n"),
    "convert to HCL: convert file: convert body: convert expression: dir/t.hcl:1,6-10: Invalid " +
      "operand; Unsuitable value for unary operand: number required.",
  );
});

Deno.test("hclInTypeScript() is a drop-in HclParse", async () => {
  const parse = hclInTypeScript();
  deepStrictEqual(await parse("a.hcl", 'x = "two"\n'), { x: "two" });
  await rejects(parse("d.hcl", "z = \n"), /^Error: parse config: \[d\.hcl:1,5-2,1: /);
});

Deno.test("parseHcl() refuses, at its line, the syntax it does not reproduce", async () => {
  const reference = new Reference();
  const deep = (n: number) => "[".repeat(n) + "]".repeat(n);
  const cases: [string, number][] = [
    ["a = 1\né = 2\n", 2],
    ['a "x" {\n  b = café.x\n}\n', 2],
    ["a = 1\nb = <<É\nx\nÉ\n", 2],
    [`a = 0.${"1".repeat(120)}\n`, 1],
    ["a = 1\nb = [1e20000]\n", 2],
    [`a = 1\nb = "\${1e-20000}"\n`, 2],
    [`a = ${deep(150)}\n`, 1],
    [`a {\n${"b {\n".repeat(250)}${"}\n".repeat(250)}}\n`, 200],
    [`a = "${"%{if x}".repeat(250)}${"%{endif}".repeat(250)}"\n`, 1],
  ];
  for (const [text, line] of cases) {
    const theirs = await reference.parse("t.hcl", text);
    ok("json" in theirs, `hcl2json refused ${JSON.stringify(text)}`);
    const problem = firstProblem("t.hcl", ours("t.hcl", text));
    ok(problem?.startsWith(`${line}: Unsupported syntax: `), `${text.slice(0, 40)}…: ${problem}`);
  }
});

// Speed is the bench's business (bench/README.md); this is the same answer at a size past any
// hand-written config: every rule pack repeated until the file holds thousands of blocks.
Deno.test("parseHcl() gives hcl2json's JSON for a config of thousands of blocks", async () => {
  const packs = (await corpus()).filter(([name]) => name.startsWith("rules/"));
  ok(packs.length > 0, "the corpus has the rule packs");
  let text = "";
  for (let copy = 0; text.length < 1_000_000; copy++) {
    for (const [, pack] of packs) {
      // Blocks repeat freely; a top-level attribute may be set once.
      const blocks = copy === 0 ? pack : pack.replace(/^schema_version\s*=.*$/gm, "");
      text += blocks.replace(/^rule "([^"]+)"/gm, `rule "$1-${copy}"`) + "\n";
    }
  }
  const theirs = await new Reference().parse("big.hcl", text);
  ok("json" in theirs, `hcl2json refused the big file: ${JSON.stringify(theirs).slice(0, 200)}`);
  const mine = ours("big.hcl", text);
  ok("json" in mine && mine.json.length > 500_000, "a big JSON");
  equal(mine.json, theirs.json);
});
