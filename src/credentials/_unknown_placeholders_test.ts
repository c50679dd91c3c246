import { deepStrictEqual } from "node:assert/strict";
import { PlaceholderSet } from "./_placeholders.ts";
import { UnknownPlaceholders } from "./_unknown_placeholders.ts";

/** The unknown placeholders in each of `texts`, known ones found with `known`. */
function unknownIn(known: string[], texts: string[], decode = false): string[] {
  const set = new PlaceholderSet(known.length > 0 ? known : ["{{unused_x}}"]);
  const unknown = new UnknownPlaceholders();
  for (const t of texts) unknown.scan(t, decode ? set.findDecoded(t) : set.find(t), decode);
  return unknown.list();
}

Deno.test("UnknownPlaceholders finds {{…}} shaped like a placeholder config accepts, and nothing else", () => {
  deepStrictEqual(unknownIn([], ["Bearer {{nope}}"]), ["{{nope}}"]);
  deepStrictEqual(unknownIn([], ["{{a-b.c:d/e@f}}"]), ["{{a-b.c:d/e@f}}"]);
  // Inside extra braces, the placeholder shape is still there.
  deepStrictEqual(unknownIn([], ["{{{nope}}}"]), ["{{nope}}"]);
  // 6 to 200 characters, no spaces or braces inside: template text is not a placeholder.
  deepStrictEqual(unknownIn([], ["{{ab}}"]), ["{{ab}}"]);
  deepStrictEqual(
    unknownIn([], [
      "{{a}}",
      "{{}}",
      "{{ nope }}",
      "{{ .Values.image }}",
      "{nope}",
      "{{nope}",
      `{{${"x".repeat(197)}}}`,
      "{{caf\u00e9}}",
    ]),
    [],
  );
  deepStrictEqual(unknownIn([], [`{{${"x".repeat(196)}}}`]), [`{{${"x".repeat(196)}}}`]);
});

Deno.test("UnknownPlaceholders leaves configured placeholders alone, also inside longer custom ones", () => {
  deepStrictEqual(unknownIn(["{{github_pat}}"], ["{{github_pat}} {{github_pta}}"]), [
    "{{github_pta}}",
  ]);
  deepStrictEqual(unknownIn(["tok_{{ab}}_x"], ["key=tok_{{ab}}_x"]), []);
  deepStrictEqual(unknownIn(["{{github_pat}}"], ["{{{github_pat}}}"]), []);
});

Deno.test("UnknownPlaceholders reports each text once, sorted, decoded where %-escapes apply", () => {
  deepStrictEqual(unknownIn([], ["{{zz_top}} {{aa_top}}", "{{zz_top}}"]), [
    "{{aa_top}}",
    "{{zz_top}}",
  ]);
  deepStrictEqual(unknownIn([], ["q=%7B%7Bnope%7d%7D&r={{raw_one}}"], true), [
    "{{nope}}",
    "{{raw_one}}",
  ]);
  // An encoded configured placeholder is known, not unknown.
  deepStrictEqual(unknownIn(["{{github_pat}}"], ["t=%7B%7Bgithub_pat%7D%7D"], true), []);
  // Without decoding (headers), escapes are just text.
  deepStrictEqual(unknownIn([], ["%7B%7Bnope%7D%7D"]), []);
});
