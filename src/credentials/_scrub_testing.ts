/**
 * Test helpers for the scrubber: the whole-input scrub, and a reference written the obvious way
 * that the scrubber's one-pass, chunked matching must agree with.
 *
 * @module
 */

import { concatBytes } from "../core/mod.ts";
import { Scrubber } from "./scrub.ts";

const enc = new TextEncoder();

/** `input` through one scrubber over `forms`, in one push. */
export function scrubAll(forms: Array<[string, string]>, input: Uint8Array): Uint8Array {
  const s = new Scrubber(forms);
  return concatBytes([s.push(input), s.end()]);
}

/** Leftmost-longest replacement over the whole input, written the obvious way. */
export function reference(forms: Array<[string, string]>, input: Uint8Array): Uint8Array {
  const list = forms.map(([f, r]) => [enc.encode(f), enc.encode(r)] as const)
    .sort((a, b) => b[0].length - a[0].length);
  const out: number[] = [];
  let i = 0;
  outer: while (i < input.length) {
    for (const [f, r] of list) {
      if (f.length > 0 && f.every((b, k) => input[i + k] === b)) {
        out.push(...r);
        i += f.length;
        continue outer;
      }
    }
    out.push(input[i++]);
  }
  return new Uint8Array(out);
}
