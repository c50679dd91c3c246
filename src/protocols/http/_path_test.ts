import {
  deepStrictEqual as assertEquals,
  ok as assert,
  throws as assertThrows,
} from "node:assert/strict";
import { normaliseTarget, PathRejected } from "./_path.ts";
import { seededRandom } from "../../../tests/_rng.ts";

const NORMALISED: [target: string, path: string][] = [
  // Already normal: returned as sent.
  ["/", "/"],
  ["/a/b", "/a/b"],
  ["/a/b/", "/a/b/"],
  ["/a/...", "/a/..."],
  ["/a/..b/.c", "/a/..b/.c"],
  // Dot-segments, plain (RFC 3986 §5.2.4).
  ["/a/./b", "/a/b"],
  ["/a/../b", "/b"],
  ["/a/b/../../c", "/c"],
  ["/./a", "/a"],
  // Dot-segments, percent-encoded in every case mix: decoded before removal.
  ["/a/%2e%2E/b", "/b"],
  ["/a/%2E%2e/b", "/b"],
  ["/a/%2e%2e/b", "/b"],
  ["/a/%2E%2E/b", "/b"],
  ["/a/.%2e/b", "/b"],
  ["/a/%2e./b", "/b"],
  ["/a/%2E./b", "/b"],
  ["/a/%2e/b", "/a/b"],
  ["/%2e/", "/"],
  ["/a/%2e", "/a/"],
  ["/a/b/%2e%2e", "/a/"],
  // `..` above the root clamps at "/".
  ["/..", "/"],
  ["/../a", "/a"],
  ["/../../../etc/passwd", "/etc/passwd"],
  ["/a/../../b", "/b"],
  ["/%2e%2e/%2e%2e/b", "/b"],
  // Runs of "/" collapse.
  ["//", "/"],
  ["///", "/"],
  ["//a///b", "/a/b"],
  ["/a//", "/a/"],
  ["//admin", "/admin"],
  ["/a//../b", "/b"],
  // Trailing slash kept, including when a final dot-segment leaves one.
  ["/a/b/.", "/a/b/"],
  ["/a/b/..", "/a/"],
  ["/a/..", "/"],
  ["/a/../", "/"],
  ["/a/b/./", "/a/b/"],
  // Unreserved escapes decoded, others uppercased and kept.
  ["/%41", "/A"],
  ["/%7e", "/~"],
  ["/%7E%2D%5F%30", "/~-_0"],
  ["/caf%c3%a9", "/caf%C3%A9"],
  ["/a%20b", "/a%20b"],
  ["/a%3a%5b", "/a%3A%5B"],
  ["/a%3fb", "/a%3Fb"],
  ["/a%3Fb", "/a%3Fb"],
  ["/%25", "/%25"],
  ["/%2541", "/%2541"],
  ["/a;b=1", "/a;b=1"],
];

Deno.test("normaliseTarget() normalises paths", async (t) => {
  for (const [target, path] of NORMALISED) {
    await t.step(`${target} -> ${path}`, () => {
      const out = normaliseTarget(target);
      assertEquals(out, { path, rawPath: target, query: "" });
    });
  }
});

Deno.test("normaliseTarget() keeps the query raw and splits at the first '?'", () => {
  assertEquals(normaliseTarget("/a/../b?x=%2f&y=../z"), {
    path: "/b",
    rawPath: "/a/../b",
    query: "x=%2f&y=../z",
  });
  assertEquals(normaliseTarget("/a?b?c=/d"), { path: "/a", rawPath: "/a", query: "b?c=/d" });
  assertEquals(normaliseTarget("/?x=%zz"), { path: "/", rawPath: "/", query: "x=%zz" });
  assertEquals(normaliseTarget("/a?"), { path: "/a", rawPath: "/a", query: "" });
  assertEquals(normaliseTarget("//a/.?q"), { path: "/a/", rawPath: "//a/.", query: "q" });
});

const REJECTED: [target: string, why: RegExp][] = [
  ["", /origin-form/],
  ["a/b", /origin-form/],
  ["*", /origin-form/],
  ["http://h/a", /origin-form/],
  ["/a#frag", /fragment/],
  ["/a?x=1#frag", /fragment/],
  ["/a\\b", /backslash/],
  ["/a/..\\..\\b", /backslash/],
  ["/a/%zz", /malformed/],
  ["/a/%2", /malformed/],
  ["/a/%", /malformed/],
  ["/a/%2?x", /malformed/],
  ["/a/%g1", /malformed/],
  ["/a%00b", /NUL/],
  ["/a%2Fb", /encoded slash/],
  ["/a%2fb", /encoded slash/],
  ["/a/..%2F..%2Fadmin", /encoded slash/],
  ["/a%5cb", /encoded slash/],
  ["/a%5Cb", /encoded slash/],
  ["/a b", /non-ASCII or control/],
  ["/a\tb", /non-ASCII or control/],
  ["/a\x00b", /non-ASCII or control/],
  ["/a\x7fb", /non-ASCII or control/],
  ["/caf\u00e9", /non-ASCII or control/],
  ["/a?x=\r\n", /non-ASCII or control/],
  ["/a/..;/admin", /';' parameters/],
  ["/a/.;x/admin", /';' parameters/],
  ["/a/%2e%2e;/admin", /';' parameters/],
  ["/a/..%3b/admin", /';' parameters/],
  ["/a/.%3B/admin", /';' parameters/],
  ["/%c0%ae%c0%ae/admin", /UTF-8/],
  ["/%c0%af", /UTF-8/],
  ["/%e9", /UTF-8/],
];

Deno.test("normaliseTarget() rejects targets that could be read two ways", async (t) => {
  for (const [target, why] of REJECTED) {
    await t.step(JSON.stringify(target), () => {
      assertThrows(
        () => normaliseTarget(target),
        (e) => e instanceof PathRejected && why.test(e.message),
      );
    });
  }
});

Deno.test("normaliseTarget() keeps encoded slashes opaque when allowEncodedSlash is set", () => {
  const allow = { allowEncodedSlash: true };
  assertEquals(normaliseTarget("/a%2fb", allow).path, "/a%2Fb");
  assertEquals(normaliseTarget("/a%5cb/c", allow).path, "/a%5Cb/c");
  // Not a separator: `..` after it pops the whole `a%2Fb` segment.
  assertEquals(normaliseTarget("/x/a%2fb/../c", allow).path, "/x/c");
  assertEquals(normaliseTarget("/%2F%2F", allow).path, "/%2F%2F");
  // Everything else still applies.
  assertThrows(() => normaliseTarget("/a\\b", allow), PathRejected);
  assertThrows(() => normaliseTarget("/a%00", allow), PathRejected);
});

Deno.test("normaliseTarget() error messages quote the target with control characters escaped", () => {
  assertThrows(
    () => normaliseTarget("/a\r\nX-Injected: 1"),
    (e) =>
      e instanceof PathRejected &&
      e.message ===
        "Cannot forward path '/a\\u000d\\u000aX-Injected:\\u00201': non-ASCII or control character",
  );
});

Deno.test("normaliseTarget() returns the raw path unchanged when it is already normal", () => {
  const target = "/repos/denoland/deno/pulls/1";
  const out = normaliseTarget(target + "?page=2");
  assert(out.path === out.rawPath);
  assertEquals(out.path, target);
});

// Property test ------------------------------------------------------------------------------

const SEGMENTS = [
  "a",
  "b",
  ".",
  "..",
  "%2e",
  "%2E%2e",
  "%2e.",
  ".%2E",
  "",
  "%41",
  "%7e",
  "%c3%a9",
  "...",
];

Deno.test("normaliseTarget() output has no dot-segments or empty segments and is idempotent", () => {
  const random = seededRandom(0xc1a5);
  for (let run = 0; run < 5000; run++) {
    const count = Math.floor(random() * 8);
    const parts: string[] = [];
    for (let i = 0; i < count; i++) parts.push(SEGMENTS[Math.floor(random() * SEGMENTS.length)]);
    const target = "/" + parts.join("/") + (random() < 0.3 ? "/" : "");
    const { path } = normaliseTarget(target);
    const context = `${target} -> ${path}`;
    assert(path.startsWith("/"), context);
    assert(!path.includes("/./"), context);
    assert(!path.includes("/../"), context);
    assert(!path.includes("//"), context);
    assert(!path.endsWith("/.."), context);
    assert(!path.endsWith("/."), context);
    assert(!/%2e/i.test(path), context);
    assertEquals(normaliseTarget(path).path, path, context);
  }
});
