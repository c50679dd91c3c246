import { deepEqual, throws } from "node:assert/strict";
import { latin1, PlaceholderSet } from "./_placeholders.ts";

Deno.test("find() returns every occurrence in order with raw spans and ids", () => {
  const set = new PlaceholderSet(["{{a}}", "{{bb}}"]);
  deepEqual(set.find("x {{bb}} {{a}}{{a}}"), [
    { start: 2, end: 8, id: 1 },
    { start: 9, end: 14, id: 0 },
    { start: 14, end: 19, id: 0 },
  ]);
  deepEqual(set.find("nothing here"), []);
  deepEqual(set.find("{{c}} {{ a }}"), []);
});

Deno.test("find() prefers the longest placeholder when one contains another", () => {
  const set = new PlaceholderSet(["tok_AAAAAA", "tok_AAAAAA_admin"]);
  deepEqual(set.find("tok_AAAAAA_admin tok_AAAAAA"), [
    { start: 0, end: 16, id: 1 },
    { start: 17, end: 27, id: 0 },
  ]);
  // The contained placeholder also loses when it starts inside the longer one.
  const inner = new PlaceholderSet(["{{a}}", "x{{a}}x"]);
  deepEqual(inner.find("x{{a}}x"), [{ start: 0, end: 7, id: 1 }]);
});

Deno.test("find() never returns overlapping matches", () => {
  const set = new PlaceholderSet(["aaaaaa"]);
  deepEqual(set.find("aaaaaaaaaaaa a"), [
    { start: 0, end: 6, id: 0 },
    { start: 6, end: 12, id: 0 },
  ]);
});

Deno.test("find() works for placeholders with different first characters", () => {
  const set = new PlaceholderSet(["{{a}}", "ghp_PLACEHOLDER", "%%TOKEN%%"]);
  deepEqual(set.mayContain("gitlab {x}"), false);
  deepEqual(set.mayContain("ghp_x"), true);
  deepEqual(set.find("a ghp_PLACEHOLDER b %%TOKEN%%"), [
    { start: 2, end: 17, id: 1 },
    { start: 20, end: 29, id: 2 },
  ]);
});

Deno.test("findDecoded() finds %-escaped placeholders in any hex case, mixed with literal text", () => {
  const set = new PlaceholderSet(["{{github_pat}}"]);
  const q = "a=1&t=%7b%7Bgithub_pat%7D%7d&u={%7Bgit%68ub_pat}}";
  deepEqual(set.findDecoded(q), [
    { start: 6, end: 28, id: 0 },
    { start: 31, end: 49, id: 0 },
  ]);
  deepEqual(q.slice(6, 28), "%7b%7Bgithub_pat%7D%7d");
});

Deno.test("findDecoded() keeps a '%' without two hex digits literal", () => {
  const set = new PlaceholderSet(["%%TOKEN%%", "{{a}}"]);
  deepEqual(set.findDecoded("x=%%TOKEN%%"), [{ start: 2, end: 11, id: 0 }]);
  deepEqual(set.findDecoded("x=%25%25TOKEN%25%25"), [{ start: 2, end: 19, id: 0 }]);
  deepEqual(set.findDecoded("%zz%7B{a}}%"), [{ start: 3, end: 10, id: 1 }]);
});

Deno.test("findDecoded() does not decode escapes of non-ASCII bytes into placeholder text", () => {
  const set = new PlaceholderSet(["{{a}}"]);
  deepEqual(set.findDecoded("%FB%7Ba}}"), []);
});

Deno.test("PlaceholderSet refuses an empty placeholder", () => {
  throws(() => new PlaceholderSet(["{{a}}", ""]), TypeError);
});

Deno.test("latin1() maps every byte to one character", () => {
  const bytes = new Uint8Array([0x7b, 0x00, 0x80, 0xff, 0x7d]);
  const s = latin1(bytes.subarray(1, 4));
  deepEqual([...s].map((c) => c.charCodeAt(0)), [0x00, 0x80, 0xff]);
});
