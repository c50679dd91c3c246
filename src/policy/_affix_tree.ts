/**
 * A radix tree of string affixes (prefixes, or suffixes read from the end) to rule positions.
 * A lookup walks the value once and collects every key that is an affix of it, so its cost grows
 * with the value's length, not with the number of keys or of their distinct lengths.
 *
 * @module
 */

interface Node {
  /** The edge into this node, oriented in reading order (reversed for suffixes). */
  label: string;
  /** The edge as it reads in a value: `label`, or for suffixes `label` reversed back. */
  text: string;
  /** Positions filed under the key that ends here. */
  here: number[] | null;
  /** First character codes of the children's labels, parallel to `kids` (few: scanned). */
  codes: number[];
  kids: Node[];
}

/** Which end of the value a key is matched against. */
export type AffixSide = "prefix" | "suffix";

/** Keys that are prefixes (or suffixes) of a value, with the positions filed under each. */
export class AffixTree {
  readonly #root: Node;
  readonly #fromEnd: boolean;

  constructor(side: AffixSide) {
    this.#fromEnd = side === "suffix";
    this.#root = this.#node("", null);
  }

  /** Files `position` under `key`. */
  add(key: string, position: number): void {
    const path = this.#fromEnd ? reversed(key) : key;
    let node = this.#root;
    let k = 0;
    while (k < path.length) {
      const first = path.charCodeAt(k);
      const at = node.codes.indexOf(first);
      if (at < 0) {
        node.codes.push(first);
        node.kids.push(this.#node(path.slice(k), [position]));
        return;
      }
      const child = node.kids[at];
      let common = 1;
      const limit = Math.min(child.label.length, path.length - k);
      while (common < limit && child.label.charCodeAt(common) === path.charCodeAt(k + common)) {
        common++;
      }
      if (common < child.label.length) {
        // The key parts ways with this edge inside it: split the edge at the fork.
        const tail = this.#node(child.label.slice(common), child.here);
        tail.codes = child.codes;
        tail.kids = child.kids;
        child.label = child.label.slice(0, common);
        child.text = this.#textOf(child.label);
        child.here = null;
        child.codes = [tail.label.charCodeAt(0)];
        child.kids = [tail];
      }
      node = child;
      k += common;
    }
    (node.here ??= []).push(position);
  }

  #node(label: string, here: number[] | null): Node {
    return { label, text: this.#textOf(label), here, codes: [], kids: [] };
  }

  #textOf(label: string): string {
    return this.#fromEnd ? reversed(label) : label;
  }

  /** Appends to `out` the positions of every key that is an affix of `value` (shortest first). */
  collect(value: string, out: number[]): void {
    if (this.#fromEnd) collectSuffixes(this.#root, value, out);
    else collectPrefixes(this.#root, value, out);
  }
}

function collectPrefixes(root: Node, value: string, out: number[]): void {
  const n = value.length;
  let node = root;
  let k = 0;
  for (;;) {
    if (node.here) { for (const p of node.here) out.push(p); }
    if (k >= n) return;
    const child = childOf(node, value.charCodeAt(k));
    if (child === null) return;
    const label = child.label;
    if (k + label.length > n) return;
    for (let j = 1; j < label.length; j++) {
      if (label.charCodeAt(j) !== value.charCodeAt(k + j)) return;
    }
    k += label.length;
    node = child;
  }
}

function collectSuffixes(root: Node, value: string, out: number[]): void {
  // `end` is one past the last code unit not yet matched, reading from the value's end.
  let end = value.length;
  let node = root;
  for (;;) {
    if (node.here) { for (const p of node.here) out.push(p); }
    if (end === 0) return;
    const child = childOf(node, value.charCodeAt(end - 1));
    if (child === null) return;
    const text = child.text;
    if (!value.endsWith(text, end)) return;
    end -= text.length;
    node = child;
  }
}

function childOf(node: Node, code: number): Node | null {
  const codes = node.codes;
  for (let i = 0; i < codes.length; i++) if (codes[i] === code) return node.kids[i];
  return null;
}

/** `s` in reverse UTF-16 code-unit order, the order a suffix lookup reads a value in. */
function reversed(s: string): string {
  let out = "";
  for (let i = s.length - 1; i >= 0; i--) out += s[i];
  return out;
}
