// Property: with forms long enough that the scan steps over positions (real tokens: 8 characters
// and up), the scrubber still replaces exactly what a position-by-position reference does, whole
// or chunked, including forms that overlap, nearly match, or end the input.

import { deepEqual, ok } from "node:assert/strict";
import type { InjectableCredential } from "./http_inject.ts";
import { Scrubber, scrubForms } from "./scrub.ts";
import { concatBytes } from "../core/mod.ts";
import { SeededRng } from "../../tests/_rng.ts";
import { randomSplit } from "../../tests/_splits.ts";
import { reference, scrubAll } from "./_scrub_testing.ts";

const enc = new TextEncoder();

function bearer(placeholder: string): InjectableCredential {
  return {
    ref: "bearer_token.t",
    name: "t",
    kind: "bearer_token",
    endpoints: ["api"],
    placeholder,
    substituteIn: ["header"],
    inject: "placeholder",
  };
}

/** Text from `alphabet`: few letters make pairs repeat, as hex and base64 bodies do. */
function word(rng: SeededRng, alphabet: string, min: number, max: number): string {
  let s = "";
  const n = min + rng.int(max - min + 1);
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

/** A form damaged so that it almost matches: one byte changed, cut short, or cut at the front. */
function nearMiss(rng: SeededRng, form: string): string {
  const at = rng.int(form.length);
  switch (rng.int(3)) {
    case 0:
      return form.slice(0, at) + (form[at] === "x" ? "y" : "x") + form.slice(at + 1);
    case 1:
      return form.slice(0, Math.max(1, at));
    default:
      return form.slice(Math.max(1, at));
  }
}

function check(seed: number, alphabet: string, rounds: number): number {
  const rng = new SeededRng(seed);
  let replaced = 0;
  for (let round = 0; round < rounds; round++) {
    const forms: Array<[string, string]> = [];
    for (let k = 0; k < 1 + rng.int(3); k++) {
      forms.push(...scrubForms(bearer(`{{p${k}}}`), word(rng, alphabet, 8, 40)));
    }
    let text = "";
    for (let k = 0; k < rng.int(16); k++) {
      const form = forms[rng.int(forms.length)][0];
      const pick = rng.int(4);
      text += pick === 0 ? form : pick === 1 ? nearMiss(rng, form) : word(rng, alphabet, 0, 30);
    }
    const input = enc.encode(text);
    const want = reference(forms, input);
    const whole = scrubAll(forms, input);
    deepEqual(whole, want, `whole input ${JSON.stringify(text)}`);
    deepEqual(new Scrubber(forms).whole(input), want, `whole() ${JSON.stringify(text)}`);
    if (whole.length !== input.length || whole.some((b, i) => b !== input[i])) replaced++;
    const s = new Scrubber(forms);
    const pieces = randomSplit(input, rng.float, { pieceLength: () => 1 + rng.int(64) });
    const parts = [...pieces.map((piece) => s.push(piece)), s.end()];
    deepEqual(concatBytes(parts), want, `chunked input ${JSON.stringify(text)}`);
  }
  return replaced;
}

Deno.test("Scrubber with long forms agrees with the reference over a small alphabet (property)", () => {
  const replaced = check(0x51ed, "ab-", 400);
  // Half the texts hold a form; most must have been replaced, or the test checks little.
  ok(replaced > 150, `only ${replaced} of 400 inputs had a form replaced`);
});

Deno.test("Scrubber with long forms agrees with the reference over token-like text (property)", () => {
  const replaced = check(0x7a11, '0123456789abcdefABCDEF_-=%"\\', 400);
  ok(replaced > 150, `only ${replaced} of 400 inputs had a form replaced`);
});
