import { deepStrictEqual as assertEquals, match as assertMatch } from "node:assert/strict";
import { ConfigError } from "../core/mod.ts";
import { compilePolicy } from "./compile.ts";
import { literalPrefix } from "./_regex.ts";
import { configOf, http, policyOf, rule } from "./_testing.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("literalPrefix() returns the literal text every match of an anchored pattern starts with", () => {
  const cases: [string, string][] = [
    ["^/repos/", "/repos/"],
    ["^/repos/[^/]+$", "/repos/"],
    ["^/a+", "/a"],
    ["^/ab?c", "/a"],
    ["^/ab*", "/a"],
    ["^/ab{2}", "/a"],
    ["^/v1\\.0/", "/v1.0/"],
    ["^/v1\\.?0", "/v1"],
    ["^/a\\d", "/a"],
    ["^/a\\b", "/a"],
    ["^/a.b", "/a"],
    ["^(/a)", ""],
    ["^/a|^/b", ""],
    ["/repos/", ""],
    ["^", ""],
    ["^\\", ""],
  ];
  for (const [pattern, prefix] of cases) {
    assertEquals(literalPrefix(pattern), prefix, pattern);
  }
  // What the guard relies on: whatever the pattern matches starts with the prefix.
  for (const [pattern, s] of [["^/a+", "/aaa"], ["^/ab?c", "/ac"], ["^/ab*", "/a"]]) {
    assertEquals(new RegExp(pattern).test(s) && s.startsWith(literalPrefix(pattern)), true);
  }
});

Deno.test("compilePolicy() rejects an invalid literal regex at load, naming the rule", async () => {
  const config = await configOf(
    rule("bad-re", {
      endpoint: "https.github",
      condition: "http.path.matches('^/repos/(')",
      verdict: "deny",
    }),
  );
  let error: unknown;
  try {
    compilePolicy(config, { protocols: PROTOCOLS });
  } catch (err) {
    error = err;
  }
  assertEquals(error instanceof ConfigError, true);
  assertMatch((error as ConfigError).problems[0].message, /rule "bad-re".*pattern/);
});

Deno.test("decide() matches literal regexes with the same semantics as CEL matches()", async () => {
  const policy = await policyOf(
    rule("pulls", {
      endpoint: "https.github",
      condition: "http.path.matches('^/repos/[^/]+/[^/]+/pulls$') && http.method == 'post'",
      verdict: "deny",
    }) +
      rule("unanchored", {
        endpoint: "https.github",
        condition: "http.path.matches('secret')",
        verdict: "deny",
      }),
  );
  assertEquals(policy.decide(http({ method: "post", path: "/repos/a/b/pulls" })).rule, "pulls");
  assertEquals(policy.decide(http({ method: "post", path: "/repos/a/b/pulls/1" })).rule, null);
  assertEquals(policy.decide(http({ method: "get", path: "/x/secret/y" })).rule, "unanchored");
  assertEquals(policy.decide(http({ method: "get", path: "/x" })).rule, null);
});
