/**
 * The JSON hcl2json (tmccombs/hcl2json's `convert`, v0.6.5) makes from a parsed HCL body: blocks
 * nested by type then label with an array of bodies at the leaf, literals as JSON values, strings
 * as HCL templates (literal `${` and `%{` doubled), and any other expression as `${source}`.
 *
 * @module
 */

import { type Body, type Expr, goQuote, rangeString } from "./_hcl_ast.ts";
import { HclUnsupported, type Range } from "./_hcl_token.ts";

/** A conversion error, as hcl2json words it (its callers add what they were converting). */
class Failure extends Error {}

type Json = null | boolean | number | string | Json[] | Map<string, Json>;

/** Converts a body into hcl2json's JSON, or throws hcl2json's "convert to HCL" message. */
export function convertFile(file: string, text: string, body: Body): Record<string, unknown> {
  try {
    return toPlain(new Converter(file, text).body(body)) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof Failure) {
      throw new Error(`convert to HCL: convert file: convert body: ${e.message}`);
    }
    throw e;
  }
}

/** Go's JSON encoder sorts object keys by their UTF-8 bytes, that is by code point. */
function codePointOrder(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    let x = a.charCodeAt(i);
    let y = b.charCodeAt(i);
    if (x === y) continue;
    if (x >= 0xd800) x += x <= 0xdfff ? 0x2000 : -0x800;
    if (y >= 0xd800) y += y <= 0xdfff ? 0x2000 : -0x800;
    return x - y;
  }
  return a.length - b.length;
}

function toPlain(v: Json): unknown {
  if (Array.isArray(v)) return v.map(toPlain);
  if (!(v instanceof Map)) return v;
  const out: Record<string, unknown> = {};
  for (const key of [...v.keys()].sort(codePointOrder)) {
    // Defined, not assigned: a "__proto__" key is data, as JSON.parse makes it.
    Object.defineProperty(out, key, {
      value: toPlain(v.get(key)!),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** A number literal's digits (no leading or trailing zeros) and power of ten. */
function decimal(text: string): { digits: string; exp: number } {
  const m = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text)!;
  const frac = m[2] ?? "";
  let digits = (m[1] + frac).replace(/^0+/, "");
  if (digits === "") return { digits, exp: 0 };
  const expText = m[3] ?? "0";
  // Past ten million the power only matters for refusing the number.
  let exp = expText.replace(/^[+-]?0*/, "").length > 7 ? Infinity : Number(expText);
  exp -= frac.length;
  const trimmed = digits.replace(/0+$/, "");
  exp += digits.length - trimmed.length;
  digits = trimmed;
  return { digits, exp: digits === "" ? 0 : exp };
}

class Converter {
  readonly #file: string;
  readonly #text: string;

  constructor(file: string, text: string) {
    this.#file = file;
    this.#text = text;
  }

  body(body: Body): Map<string, Json> {
    const out = new Map<string, Json>();
    for (const block of body.blocks) {
      try {
        this.#block(block, out);
      } catch (e) {
        throw e instanceof Failure ? new Failure(`convert block: ${e.message}`) : e;
      }
    }
    for (const [name, attr] of body.attributes) {
      try {
        out.set(name, this.expression(attr.expr));
      } catch (e) {
        throw e instanceof Failure ? new Failure(`convert expression: ${e.message}`) : e;
      }
    }
    return out;
  }

  #block(block: Body["blocks"][number], out: Map<string, Json>): void {
    let key = block.type;
    for (const label of block.labels) {
      const existing = out.get(key);
      if (existing === undefined) {
        const inner = new Map<string, Json>();
        out.set(key, inner);
        out = inner;
      } else if (existing instanceof Map) out = existing;
      else {
        throw new Failure(
          `Unable to convert Block to JSON: ${block.type}.${block.labels.join(".")}`,
        );
      }
      key = label;
    }
    let value: Json;
    try {
      value = this.body(block.body);
    } catch (e) {
      throw e instanceof Failure ? new Failure(`convert body: ${e.message}`) : e;
    }
    const existing = out.get(key);
    if (existing === undefined) out.set(key, [value]);
    else if (Array.isArray(existing)) existing.push(value);
    else {
      throw new Failure(
        `invalid HCL detected for ${
          goQuote(key)
        } block, cannot have blocks with and without labels`,
      );
    }
  }

  expression(e: Expr): Json {
    switch (e.kind) {
      case "number":
        return this.#number(e.text, e.range);
      case "literal":
        if (e.value === undefined) throw new Error("HCL conversion reached a syntax error");
        return e.value;
      case "unary":
        return this.#unary(e);
      case "template":
        return this.#template(e);
      case "wrap":
        return this.expression(e.wrapped);
      case "tuple":
        return e.exprs.map((x) => this.expression(x));
      case "object": {
        const m = new Map<string, Json>();
        for (const { key, value } of e.items) {
          const k = key.kind === "scope" ? this.#source(key.range) : this.#stringPart(key);
          m.set(k, this.expression(value));
        }
        return m;
      }
      default:
        return this.#wrap(e);
    }
  }

  #number(text: string, range: Range): number {
    const { digits, exp } = decimal(text);
    // hcl2json prints numbers from 512-bit floats: up to 100 digits that is exact, and a power
    // beyond 10,000 makes it print (or refuse) a number of that many digits.
    if (digits.length > 100 || Math.abs(exp + digits.length) > 10_000) {
      throw new HclUnsupported(range.start, "number literals this long or large");
    }
    return Number(text);
  }

  /** A number as cty turns it into a string: plain decimal digits, no exponent. */
  #numberString(text: string, range: Range): string {
    this.#number(text, range);
    const { digits, exp } = decimal(text);
    if (digits === "") return "0";
    if (exp >= 0) return digits + "0".repeat(exp);
    const point = digits.length + exp;
    return point > 0
      ? `${digits.slice(0, point)}.${digits.slice(point)}`
      : `0.${"0".repeat(-point)}${digits}`;
  }

  #unary(e: Extract<Expr, { kind: "unary" }>): Json {
    const v = e.operand;
    if (v.kind !== "number" && v.kind !== "literal") return this.#wrap(e);
    const value = v.kind === "number" ? this.#number(v.text, v.range) : v.value;
    const want = e.op === "-" ? "number" : "bool";
    if (value === null) {
      throw this.#diag(
        e.range,
        "Operation failed",
        "Error during operation: argument must not be null.",
      );
    }
    if ((want === "number") !== (typeof value === "number")) {
      throw this.#diag(
        v.range,
        "Invalid operand",
        `Unsuitable value for unary operand: ${want} required.`,
      );
    }
    return e.op === "-" ? -(value as number) : !value;
  }

  #diag(range: Range, summary: string, detail: string): Failure {
    return new Failure(`${rangeString(this.#file, range)}: ${summary}; ${detail}`);
  }

  #template(e: Extract<Expr, { kind: "template" }>): string {
    const [only] = e.parts;
    if (e.parts.length === 1 && (only.kind === "literal" || only.kind === "number")) {
      if (only.kind === "literal" && only.value === null) {
        throw this.#diag(
          only.range,
          "Invalid template interpolation value",
          "The expression result is null. Cannot include a null value in a string template.",
        );
      }
      return this.#stringPart(only);
    }
    return e.parts.map((p) => this.#stringPart(p)).join("");
  }

  #stringPart(e: Expr): string {
    switch (e.kind) {
      case "literal":
        if (e.value === undefined) throw new Error("HCL conversion reached a syntax error");
        return typeof e.value === "string" ? escapeLiteral(e.value) : String(e.value);
      case "number":
        return this.#numberString(e.text, e.range);
      case "template":
        return this.#template(e);
      case "wrap":
        return this.#stringPart(e.wrapped);
      case "conditional": {
        let out = `%{if ${this.#source(e.cond.range)}}`;
        try {
          out += this.#stringPart(e.yes);
        } catch (err) {
          // hcl2json drops the whole directive when its first branch fails to convert.
          if (err instanceof Failure) return "";
          throw err;
        }
        let no = "";
        try {
          no = this.#stringPart(e.no);
        } catch (err) {
          if (!(err instanceof Failure)) throw err;
        }
        return `${out}${no.length > 0 ? `%{else}${no}` : ""}%{endif}`;
      }
      case "join": {
        const names = e.keyVar ? `${e.keyVar}, ${e.valVar}` : e.valVar;
        const head = `%{for ${names} in ${this.#source(e.coll.range)}}`;
        return `${head}${this.#stringPart(e.body)}%{endfor}`;
      }
      default:
        return this.#wrap(e);
    }
  }

  #wrap(e: Expr): string {
    return "${" + this.#source(e.range) + "}";
  }

  /** The expression's source text; hcl2json also takes a `)` right after it. */
  #source(r: Range): string {
    const end = this.#text[r.end.off] === ")" ? r.end.off + 1 : r.end.off;
    return this.#text.slice(r.start.off, end);
  }
}

/** Literal text as a template: `${` and `%{` doubled so they stay literal. */
function escapeLiteral(s: string): string {
  // Replacement functions: in a replacement string "$$" would mean one "$".
  return s.replaceAll("${", () => "$${").replaceAll("%{", () => "%%{");
}
