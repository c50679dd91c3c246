import { ok } from "node:assert/strict";
import { corpus, difference, isUnsupported, ours, Reference } from "./_hcl_testing.ts";

/** A small seeded generator (mulberry32): the same seed gives the same documents. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
    chance: (p = 0.5) => next() < p,
  };
}
type Random = ReturnType<typeof random>;

const NAMES = ["a", "b", "rule", "endpoint", "x_1", "for", "in", "if", "true", "null", "k-8", "_"];
const LABELS = ['"x"', '"y"', '"a b"', '"$${z}"', '"\\u00e9"', "lbl", '""', '"%%{"', '"1"'];
const SPACE = [" ", " ", "  ", "\t", ""];
const NUMBERS = ["0", "42", "007", "1.50", "0.1", "1e3", "1E+2", "2.5e-3", "1.e5", "1e400"];
const NUMBERS_TOO = ["12345678901234567890", "1e-400", "9007199254740993", "0.0"];
const TEXT = ["abc", " ", "x y", "é", "😀", "'", "{", "}", "$", "%", "a$b", "100%", "~", "-"];
const ESCAPES = ["\\n", "\\t", '\\"', "\\\\", "\\u00e9", "\\U0001F600", "\\u0024{"];
const NAMED = ["x", "https.github", "a.b.c", "x[0]", 'x["k"]', "x.0", "x[*].y", "x.*.y", "k-8"];
const UNARY = ["-1", "- 2.5", "!true", "-x", "!x", "-(1)", "--1", "-true", "!1", "-null"];
const KEYS = ["a", '"q"', '"a.b"', "(x)", "1", "true", "null", "a.b", '"${x}"', "f(x)", "-1"];
const OPERATORS = ["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "&&", "||"];
const FOR = ["[for v in x: v]", "{for k, v in x: k => v...}", "[for v in x: v if v]"];
const COMMENTS = ["# c", "// c", "/* c */", "/* multi\nline */", "#", "# é"];

/** Template text: literal runs, escapes, `${…}`, `%{if}` and `%{for}`, `~` markers. */
function templateBody(r: Random, depth: number, heredoc: boolean): string {
  let s = "";
  const tilde = () => r.pick(["", "~", " "]);
  for (let n = r.int(5); n > 0; n--) {
    const k = r.int(12);
    if (k < 4) s += r.pick(TEXT);
    else if (k === 4 && !heredoc) s += r.pick(ESCAPES);
    else if (k === 5) s += r.pick(["$${", "%%{", "$${x}", "%%{if}"]);
    else if (k <= 7 && depth < 3) s += `\${${tilde()}${expression(r, depth + 1)}${tilde()}}`;
    else if (k === 8 && depth < 3) {
      const body = () => templateBody(r, depth + 1, heredoc);
      const otherwise = r.chance() ? `%{else}${body()}` : "";
      s += `%{${tilde()}if ${
        expression(r, depth + 1)
      }${tilde()}}${body()}${otherwise}%{endif${tilde()}}`;
    } else if (k === 9 && depth < 3) {
      s += `%{for ${r.pick(["v", "k, v"])} in ${expression(r, depth + 1)}}`;
      s += `${templateBody(r, depth + 1, heredoc)}%{endfor}`;
    } else if (k === 10 && heredoc) s += r.pick(["\n", "\n  ", "\n    ", "\n\t", "  \n"]);
    else s += r.pick(["a", "b", "-", "."]);
  }
  return s;
}

function heredoc(r: Random, depth: number): string {
  const marker = r.pick(["EOF", "EOT"]);
  const indent = r.pick(["", "  ", "    ", "\t"]);
  let lines = "";
  for (let n = r.int(4); n > 0; n--) {
    lines += `${r.pick(["", "  ", indent, indent + "  "])}${templateBody(r, depth + 1, true)}\n`;
  }
  return `<<${r.chance() ? "-" : ""}${marker}\n${lines}${r.pick(["", "  ", indent])}${marker}`;
}

function expression(r: Random, depth = 0): string {
  const sub = () => expression(r, depth + 1);
  switch (r.int(depth > 2 ? 6 : 19)) {
    case 0:
      return r.pick(r.chance(0.8) ? NUMBERS : NUMBERS_TOO);
    case 1:
      return r.pick(["true", "false", "null"]);
    case 2:
    case 3:
      return `"${templateBody(r, depth, false)}"`;
    case 4:
      return r.pick(NAMED);
    case 5:
      return r.pick(UNARY);
    case 6:
      return heredoc(r, depth);
    case 7:
    case 8: {
      const items = Array.from({ length: r.int(4) }, sub);
      const sep = r.pick([", ", ",", ",\n", " ,\n  "]);
      return `[${r.pick(SPACE)}${items.join(sep)}${r.chance(0.3) ? "," : ""}${r.pick(SPACE)}]`;
    }
    case 9:
    case 10: {
      const items = Array.from({ length: r.int(4) }, () => {
        const [s1, s2] = [r.pick(SPACE), r.pick(SPACE)];
        return `${r.pick(KEYS)}${s1}${r.pick(["=", ":"])}${s2}${sub()}`;
      });
      const sep = r.pick([", ", "\n", ",\n", "\n\n  "]);
      return `{${r.pick(["", " ", "\n"])}${items.join(sep)}${r.pick(["", " ", "\n", ","])}}`;
    }
    case 11:
      return `f(${sub()}${r.chance(0.3) ? `, ${sub()}` : ""}${r.pick(["", ",", "..."])})`;
    case 12:
      return `${sub()} ${r.pick(OPERATORS)} ${sub()}`;
    case 13:
      return `${sub()} ? ${sub()} : ${sub()}`;
    case 14:
      return r.pick(FOR);
    case 15:
      return `(${sub()})`;
    case 16:
      return `${sub()} ${r.pick(COMMENTS)}\n`;
    case 17:
      return `provider::p::f(${sub()})`;
    default:
      return r.pick(NUMBERS);
  }
}

/** A body: attributes, blocks with 0–2 labels (some on one line), comments, blank lines. */
function body(r: Random, depth = 0): string {
  let s = "";
  const nl = r.chance(0.1) ? "\r\n" : "\n";
  const indent = "  ".repeat(depth);
  for (let n = r.int(depth === 0 ? 6 : 4); n > 0; n--) {
    const k = r.int(9);
    if (k < 4) {
      const comment = r.chance(0.2) ? ` ${r.pick(COMMENTS)}` : "";
      s += `${indent}${r.pick(NAMES)}${r.pick(SPACE)}=${r.pick(SPACE)}${
        expression(r)
      }${comment}${nl}`;
    } else if (k < 7 && depth < 3) {
      const labels = Array.from({ length: r.int(3) }, () => ` ${r.pick(LABELS)}`).join("");
      const head = `${indent}${r.pick(NAMES.slice(0, 5))}${labels} {`;
      if (r.chance(0.3)) s += `${head} ${r.pick(NAMES)} = ${expression(r, 2)} }${nl}`;
      else if (r.chance(0.1)) s += `${head}}${nl}`;
      else s += `${head}${nl}${body(r, depth + 1)}${indent}}${nl}`;
    } else if (k === 7) s += `${indent}${r.pick(COMMENTS)}${nl}`;
    else s += nl;
  }
  return s;
}

const PIECES = ["{", "}", "[", "]", '"', "${", "%{", "\n", "=", ",", "#", "/*", "*/", "<<EOF\n"];
const MORE_PIECES = ["~", "(", ")", ":", "?", ".", "\\", "$", "a", "1", " ", "\t", "\r", "'", "é"];

/** Deletes, doubles or inserts a character or token, or deletes a short run. */
function mutate(r: Random, text: string): string {
  const at = r.int(text.length + 1);
  switch (r.int(4)) {
    case 0:
      return text.slice(0, at) + text.slice(at + 1);
    case 1:
      return text.slice(0, at) + (text[at] ?? "") + text.slice(at);
    case 2:
      return text.slice(0, at) + r.pick(r.chance() ? PIECES : MORE_PIECES) + text.slice(at);
    default:
      return text.slice(0, at) + text.slice(at + 1 + r.int(8));
  }
}

/** Compares both parsers on each document; fails with the seed and input of any mismatch. */
async function compareAll(seed: number, documents: Iterable<string>): Promise<number> {
  const reference = new Reference();
  const mismatches: string[] = [];
  let refused = 0;
  let count = 0;
  for (const text of documents) {
    count++;
    const theirs = await reference.parse("t.hcl", text);
    const mine = ours("t.hcl", text);
    if (isUnsupported(mine)) {
      refused++;
      continue;
    }
    const why = difference("t.hcl", theirs, mine, true);
    if (why) mismatches.push(`seed ${seed}, document ${count}: ${JSON.stringify(text)}\n${why}`);
  }
  ok(mismatches.length === 0, `${mismatches.length} mismatches:\n\n${mismatches.join("\n\n")}`);
  // Only the mutations' "é" makes non-ASCII identifiers; the rest must be compared.
  ok(refused < count / 50, `seed ${seed}: refused ${refused} of ${count}`);
  return count;
}

Deno.test("parseHcl() matches hcl2json on generated documents (seeds 1-4, 300 each)", async () => {
  for (const seed of [1, 2, 3, 4]) {
    const r = random(seed);
    const documents = function* () {
      for (let i = 0; i < 300; i++) {
        let text = body(r);
        for (let m = r.int(3); m > 0; m--) text = mutate(r, text);
        yield text;
      }
    };
    await compareAll(seed, documents());
  }
});

Deno.test("parseHcl() matches hcl2json on mutated configs (seeds 5-6, 400 each)", async () => {
  const configs = (await corpus()).map(([, text]) => text);
  for (const seed of [5, 6]) {
    const r = random(seed);
    const documents = function* () {
      for (let i = 0; i < 400; i++) {
        let text = r.pick(configs);
        for (let m = 1 + r.int(3); m > 0; m--) text = mutate(r, text);
        yield text;
      }
    };
    await compareAll(seed, documents());
  }
});
