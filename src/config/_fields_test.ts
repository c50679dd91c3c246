import { equal } from "node:assert/strict";
import { describe, parseDuration, parseSize, templateLiteral } from "./_fields.ts";

Deno.test("parseDuration() reads bare numbers as seconds and strings with a unit", () => {
  equal(parseDuration(30), 30_000);
  equal(parseDuration(0), 0);
  equal(parseDuration(1.5), 1_500);
  equal(parseDuration("30s"), 30_000);
  equal(parseDuration("10m"), 600_000);
  equal(parseDuration("500ms"), 500);
  equal(parseDuration("1h"), 3_600_000);
  equal(parseDuration("1.5s"), 1_500);
  equal(parseDuration(" 2m "), 120_000);
  equal(parseDuration("90d"), 90 * 86_400_000, "days, for retention");
});

Deno.test("parseDuration() returns null for anything it cannot read", () => {
  for (const bad of ["ten minutes", "", "s", "-5s", "5w", "1h30m", "5 s", "1e3s"]) {
    equal(parseDuration(bad), null, JSON.stringify(bad));
  }
  for (const bad of [-1, Infinity, NaN, true, null, undefined, ["30s"], { s: 30 }]) {
    equal(parseDuration(bad), null, String(bad));
  }
});

Deno.test("parseSize() reads bare numbers as bytes and binary or decimal units", () => {
  equal(parseSize(1_048_576), 1_048_576);
  equal(parseSize(0), 0);
  equal(parseSize("1MiB"), 1_048_576);
  equal(parseSize("64KiB"), 65_536);
  equal(parseSize("1GiB"), 1024 ** 3);
  equal(parseSize("1KB"), 1_000);
  equal(parseSize("3MB"), 3_000_000);
  equal(parseSize("100B"), 100);
  equal(parseSize("2 MiB"), 2 * 1_048_576);
});

Deno.test("parseSize() returns null for anything it cannot read", () => {
  for (const bad of ["lots", "", "1.5MiB", "-1", "1TiB", "MiB", "1 parsec"]) {
    equal(parseSize(bad), null, JSON.stringify(bad));
  }
  for (const bad of [-1, 1.5, NaN, Infinity, true, null, undefined, [1]]) {
    equal(parseSize(bad), null, String(bad));
  }
});

Deno.test("templateLiteral() unescapes $${ and %%{ and rejects interpolation", () => {
  equal(templateLiteral("plain"), "plain");
  equal(templateLiteral("$${x}"), "${x}");
  equal(templateLiteral("%%{x}"), "%{x}");
  equal(templateLiteral("cost: $$5, 100%"), "cost: $$5, 100%");
  equal(templateLiteral("a ${b}"), null);
  equal(templateLiteral("%{if x}y%{endif}"), null);
  equal(templateLiteral("$${a} ${b}"), null);
});

Deno.test("describe() names the type without echoing long values", () => {
  equal(describe("short"), '"short"');
  equal(describe("x".repeat(41)), "a string");
  equal(describe("${https.gh}"), "reference https.gh");
  equal(describe(5), "number 5");
  equal(describe(true), "boolean true");
  equal(describe(null), "null");
  equal(describe([1]), "a list");
  equal(describe({ a: 1 }), "a block or object");
});
