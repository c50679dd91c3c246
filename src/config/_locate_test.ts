import { deepStrictEqual, equal } from "node:assert/strict";
import { attributeKey, blockKey, indexLines, type LineIndex } from "./_locate.ts";

/** Header lines of every occurrence of the block at `path`. */
function blockLines(index: LineIndex, ...path: string[]): number[] | undefined {
  return index.blocks.get(blockKey(path));
}

/** Line of attribute `name` in the `occurrence`-th block at `path`. */
function attrLine(
  index: LineIndex,
  path: string[],
  name: string,
  occurrence = 0,
): number | undefined {
  return index.attributes.get(attributeKey(path, occurrence, name));
}

Deno.test("indexLines() finds top-level attributes and block headers on their own lines", () => {
  const index = indexLines(
    [
      "schema_version = 1", // 1
      "", // 2
      'rule "a" {', // 3
      '  verdict = "deny"', // 4
      "}", // 5
    ].join("\n"),
  );
  equal(attrLine(index, [], "schema_version"), 1);
  deepStrictEqual(blockLines(index, "rule", "a"), [3]);
  equal(attrLine(index, ["rule", "a"], "verdict"), 4);
});

Deno.test("indexLines() counts the lines of a heredoc so later lines keep their numbers", () => {
  const index = indexLines(
    [
      'approver "llm_approver" "judge" {', // 1
      "  policy = <<EOT", // 2
      "    Deny anything that drops a table.", // 3
      '    Unbalanced { [ " ( are fine here.', // 4
      "  EOT", // 5
      '  model = "m"', // 6
      "}", // 7
      'rule "after" {', // 8
      '  verdict = "deny"', // 9
      "}", // 10
    ].join("\n"),
  );
  const path = ["approver", "llm_approver", "judge"];
  equal(attrLine(index, path, "policy"), 2);
  equal(attrLine(index, path, "model"), 6);
  deepStrictEqual(blockLines(index, "rule", "after"), [8]);
  equal(attrLine(index, ["rule", "after"], "verdict"), 9);
});

Deno.test("indexLines() handles indented <<- heredocs and CRLF line endings", () => {
  const index = indexLines(
    [
      "a = <<-EOT", // 1
      "    text", // 2
      "    EOT", // 3
      "b = 2", // 4
    ].join("\r\n"),
  );
  equal(attrLine(index, [], "a"), 1);
  equal(attrLine(index, [], "b"), 4);
});

Deno.test("indexLines() skips multi-line lists, including comments and quotes inside them", () => {
  const index = indexLines(
    [
      'endpoint "https" "github" {', // 1
      "  hosts = [", // 2
      '    "api.github.com", # the 5" API host', // 3
      "    // another ] comment [", // 4
      "    /* a block comment [ [", // 5
      "       spanning lines */", // 6
      '    "*.githubusercontent.com",', // 7
      "  ]", // 8
      '  upstream = "10.0.0.5:443"', // 9
      "}", // 10
      'rule "r" {', // 11
      "  priority = 1", // 12
      "}", // 13
    ].join("\n"),
  );
  const path = ["endpoint", "https", "github"];
  equal(attrLine(index, path, "hosts"), 2);
  equal(attrLine(index, path, "upstream"), 9);
  deepStrictEqual(blockLines(index, "rule", "r"), [11]);
  equal(attrLine(index, ["rule", "r"], "priority"), 12);
});

Deno.test("indexLines() skips ${} templates that contain braces and quotes", () => {
  const index = indexLines(
    [
      'rule "t" {', // 1
      '  reason = "a ${"}"} b ${ {x = "{"}["x"] } c"', // 2
      '  note   = "%{ if true }}%{ endif }"', // 3
      '  literal = "$${ not a template"', // 4
      '  mode   = "observe"', // 5
      "}", // 6
      'rule "u" {', // 7
      '  verdict = "deny"', // 8
      "}", // 9
    ].join("\n"),
  );
  equal(attrLine(index, ["rule", "t"], "reason"), 2);
  equal(attrLine(index, ["rule", "t"], "note"), 3);
  equal(attrLine(index, ["rule", "t"], "literal"), 4);
  equal(attrLine(index, ["rule", "t"], "mode"), 5);
  deepStrictEqual(blockLines(index, "rule", "u"), [7]);
  equal(attrLine(index, ["rule", "u"], "verdict"), 8);
});

Deno.test("indexLines() ignores blocks and attributes inside comments of every style", () => {
  const index = indexLines(
    [
      '# rule "hash" {', // 1
      '// rule "slash" {', // 2
      "/*", // 3
      'rule "block" {', // 4
      '  verdict = "deny"', // 5
      "}", // 6
      "*/", // 7
      'rule "real" { # trailing comment with a { brace', // 8
      '  verdict = "deny" // and a } brace', // 9
      "  /* inline */ priority = 3", // 10
      "}", // 11
    ].join("\n"),
  );
  equal(blockLines(index, "rule", "hash"), undefined);
  equal(blockLines(index, "rule", "slash"), undefined);
  equal(blockLines(index, "rule", "block"), undefined);
  deepStrictEqual(blockLines(index, "rule", "real"), [8]);
  equal(attrLine(index, ["rule", "real"], "verdict"), 9);
  equal(attrLine(index, ["rule", "real"], "priority"), 10);
});

Deno.test("indexLines() locates one-line blocks and their single attribute", () => {
  const index = indexLines(
    [
      'endpoint "https" "a" { hosts = ["x"] }', // 1
      'endpoint "https" "b" { hosts = ["y}"] }', // 2
      'credential "bearer_token" "t" { endpoint = https.a }', // 3
    ].join("\n"),
  );
  deepStrictEqual(blockLines(index, "endpoint", "https", "a"), [1]);
  equal(attrLine(index, ["endpoint", "https", "a"], "hosts"), 1);
  deepStrictEqual(blockLines(index, "endpoint", "https", "b"), [2]);
  equal(attrLine(index, ["endpoint", "https", "b"], "hosts"), 2);
  equal(attrLine(index, ["credential", "bearer_token", "t"], "endpoint"), 3);
  // The one-line block closed: the next block is top level, not nested in "a".
  equal(blockLines(index, "endpoint", "https", "a", "credential", "bearer_token", "t"), undefined);
});

Deno.test("indexLines() keys nested blocks by their full path", () => {
  const index = indexLines(
    [
      "gateway {", // 1
      '  mode = "enforce"', // 2
      "  limits {", // 3
      '    body_buffer = "1MiB"', // 4
      "  }", // 5
      '  state_dir = "./state"', // 6
      "}", // 7
    ].join("\n"),
  );
  deepStrictEqual(blockLines(index, "gateway"), [1]);
  deepStrictEqual(blockLines(index, "gateway", "limits"), [3]);
  equal(attrLine(index, ["gateway", "limits"], "body_buffer"), 4);
  equal(attrLine(index, ["gateway"], "state_dir"), 6);
  equal(attrLine(index, ["gateway"], "body_buffer"), undefined);
});

Deno.test("indexLines() numbers repeated labels by occurrence", () => {
  const index = indexLines(
    [
      'rule "dup" {', // 1
      '  verdict = "deny"', // 2
      "}", // 3
      'rule "other" {', // 4
      "}", // 5
      'rule "dup" {', // 6
      "", // 7
      '  verdict = "allow"', // 8
      "}", // 9
    ].join("\n"),
  );
  deepStrictEqual(blockLines(index, "rule", "dup"), [1, 6]);
  equal(attrLine(index, ["rule", "dup"], "verdict", 0), 2);
  equal(attrLine(index, ["rule", "dup"], "verdict", 1), 8);
});

Deno.test("indexLines() accepts unquoted labels and escaped quotes in labels", () => {
  const index = indexLines(
    [
      "rule bare {", // 1
      "  priority = 1", // 2
      "}", // 3
      'rule "quo\\"ted" {', // 4
      "  priority = 2", // 5
      "}", // 6
    ].join("\n"),
  );
  deepStrictEqual(blockLines(index, "rule", "bare"), [1]);
  deepStrictEqual(blockLines(index, "rule", 'quo"ted'), [4]);
  equal(attrLine(index, ["rule", 'quo"ted'], "priority"), 5);
});

Deno.test("indexLines() does not index keys inside object values as attributes", () => {
  const index = indexLines(
    [
      "settings = {", // 1
      "  inner = 1", // 2
      "}", // 3
      "after = 2", // 4
    ].join("\n"),
  );
  equal(attrLine(index, [], "settings"), 1);
  equal(attrLine(index, [], "inner"), undefined);
  equal(attrLine(index, [], "after"), 4);
});

Deno.test("indexLines() keeps counting after a heredoc inside a list", () => {
  const index = indexLines(
    [
      "a = [", // 1
      "  <<EOT", // 2
      '  ] " unbalanced', // 3
      "EOT", // 4
      "]", // 5
      "b = 1", // 6
    ].join("\n"),
  );
  equal(attrLine(index, [], "b"), 6);
});
