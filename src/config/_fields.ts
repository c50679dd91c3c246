/**
 * Typed field access over one hcl2json block body, collecting problems instead of throwing so a
 * single load reports every mistake with its line.
 *
 * @module
 */

import type { BodyReader, ConfigProblem } from "../core/mod.ts";
import { attributeKey, blockKey, firstBlockLine, type LineIndex } from "./_locate.ts";
import type { Ref, Source } from "./types.ts";

/** The parsed text of one config file. */
export interface ConfigFile {
  file: string;
  json: Record<string, unknown>;
  lines: LineIndex;
  /** Files pulled in with `<<file:…>>`, as resolved paths. */
  includes?: string[];
}

const REFERENCE = /^\$\{([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)\}$/;

/** Where a {@linkcode BlockReader}'s block sits and where its problems go. */
export interface BlockReaderOptions {
  /** Block type, labels and nested block names from the top level. @default [] */
  path?: string[];
  /** Which of the blocks at `path` this is, in source order. @default 0 */
  occurrence?: number;
  /** Collects every problem found, instead of throwing. */
  problems: ConfigProblem[];
}

/**
 * Reads fields of one block, remembering which were used so unknown ones can be reported. It is
 * the {@linkcode BodyReader} protocols' endpoint schemas read their blocks through.
 */
export class BlockReader implements BodyReader {
  readonly source: Source;
  readonly #body: Record<string, unknown>;
  readonly #file: ConfigFile;
  readonly #path: string[];
  readonly #occurrence: number;
  readonly #label: string;
  readonly #problems: ConfigProblem[];
  readonly #used = new Set<string>();

  constructor(
    file: ConfigFile,
    body: unknown,
    { path = [], occurrence = 0, problems }: BlockReaderOptions,
  ) {
    this.#file = file;
    this.#path = path;
    this.#occurrence = occurrence;
    this.#problems = problems;
    this.#label = path.length === 0
      ? "top level"
      : path.length === 2 && (path[0] === "gateway" || path[0] === "defaults")
      ? path.join(".")
      : `${path[0]}${path.slice(1).map((l) => ` "${l}"`).join("")}`;
    const line = file.lines.blocks.get(blockKey(path))?.[occurrence] ?? 0;
    this.source = { file: file.file, line };
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      this.problem(`Block '${this.#label}' must be a block with attributes`);
      this.#body = {};
    } else {
      this.#body = body as Record<string, unknown>;
    }
  }

  /** Line of an attribute, or of the block when the attribute is absent or unlocated. */
  lineOf(name: string): number {
    return this.#file.lines.attributes.get(attributeKey(this.#path, this.#occurrence, name)) ??
      firstBlockLine(this.#file.lines, [...this.#path, name], this.source.line) ??
      this.source.line;
  }

  /** Source of an attribute. */
  sourceOf(name: string): Source {
    return { file: this.#file.file, line: this.lineOf(name) };
  }

  /** Records a problem against the block, or against `field` when given. */
  problem(message: string, field?: string): void {
    this.#problems.push({
      file: this.#file.file,
      line: field ? this.lineOf(field) : this.source.line,
      message: `${this.#label}: ${message}`,
    });
  }

  /** A reader over a nested block such as `limits { … }` inside `gateway`. */
  nested(name: string, body: unknown, occurrence = 0): BlockReader {
    this.#used.add(name);
    return new BlockReader(this.#file, body, {
      path: [...this.#path, name],
      occurrence,
      problems: this.#problems,
    });
  }

  has(name: string): boolean {
    return name in this.#body;
  }

  raw(name: string): unknown {
    this.#used.add(name);
    return this.#body[name];
  }

  string(name: string, fallback?: string): string | undefined {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "string" || REFERENCE.test(v)) {
      this.problem(`'${name}' must be a string, got ${describe(v)}`, name);
      return fallback;
    }
    const literal = templateLiteral(v);
    if (literal === null) {
      this.problem(`'${name}' must be a plain string: interpolation is not supported`, name);
      return fallback;
    }
    return literal;
  }

  required(name: string): string | undefined {
    if (!this.has(name)) {
      this.problem(`missing required attribute '${name}'`);
      this.raw(name);
      return undefined;
    }
    return this.string(name);
  }

  oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
    const v = this.string(name);
    if (v === undefined) return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problem(
        `'${name}' must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got "${v}"`,
        name,
      );
      return fallback;
    }
    return v as T;
  }

  stringList(name: string): string[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((x) => typeof x !== "string" || REFERENCE.test(x))) {
      this.problem(`'${name}' must be a list of strings, got ${describe(v)}`, name);
      return undefined;
    }
    return v as string[];
  }

  boolean(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") {
      this.problem(`'${name}' must be true or false, got ${describe(v)}`, name);
      return fallback;
    }
    return v;
  }

  integer(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if (typeof v !== "number" || !Number.isInteger(v)) {
      this.problem(`'${name}' must be a whole number, got ${describe(v)}`, name);
      return fallback;
    }
    return v;
  }

  /** A list of whole numbers, e.g. `ports = [443, 8443]`. */
  integerList(name: string): number[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      this.problem(`'${name}' must be a list of whole numbers, got ${describe(v)}`, name);
      return undefined;
    }
    const bad = v.findIndex((x) => typeof x !== "number" || !Number.isInteger(x));
    if (bad >= 0) {
      this.problem(`'${name}' entries must be whole numbers, got ${describe(v[bad])}`, name);
      return undefined;
    }
    return v as number[];
  }

  /** `host:port` with a numeric port; `undefined` when absent or malformed (reported). */
  hostPort(name: string): string | undefined {
    const v = this.string(name);
    if (v === undefined) return undefined;
    if (!isHostPort(v)) {
      this.problem(`'${name}' must be host:port, got "${v}"`, name);
      return undefined;
    }
    return v;
  }

  /** A PEM certificate; one without a `BEGIN CERTIFICATE` line is reported (and returned). */
  pem(name: string): string | undefined {
    const v = this.string(name);
    if (v !== undefined && !v.includes("-----BEGIN CERTIFICATE-----")) {
      this.problem(`'${name}' must be a PEM certificate, e.g. "<<file:ca.pem>>"`, name);
    }
    return v;
  }

  /** A duration: a number of seconds, or a string such as `"500ms"`, `"30s"`, `"10m"`, `"1h"`, `"7d"`. */
  duration(name: string, fallbackMs: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallbackMs;
    const ms = parseDuration(v);
    if (ms === null) {
      this.problem(
        `'${name}' must be a duration such as 30, "30s", "10m" or "500ms", got ${describe(v)}`,
        name,
      );
      return fallbackMs;
    }
    return ms;
  }

  /** A size: a number of bytes, or a string such as `"64KiB"`, `"1MiB"`, `"1MB"`. */
  size(name: string, fallback: number): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = parseSize(v);
    if (n === null) {
      this.problem(`'${name}' must be a size such as 1048576 or "1MiB", got ${describe(v)}`, name);
      return fallback;
    }
    return n;
  }

  /** A single `kind.name` reference whose kind is in `kinds`. */
  ref(name: string, kinds: readonly string[]): Ref | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    return this.#toRef(name, v, kinds);
  }

  refList(name: string, kinds: readonly string[]): Ref[] | undefined {
    const v = this.raw(name);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) {
      this.problem(`'${name}' must be a list of references, got ${describe(v)}`, name);
      return undefined;
    }
    const refs: Ref[] = [];
    for (const item of v) {
      const r = this.#toRef(name, item, kinds);
      if (r) refs.push(r);
    }
    return refs;
  }

  #toRef(name: string, v: unknown, kinds: readonly string[]): Ref | undefined {
    const m = typeof v === "string" ? REFERENCE.exec(v) : null;
    if (!m) {
      const hint = typeof v === "string" && /^[\w-]+\.[\w-]+$/.test(v)
        ? ` (write ${v} without quotes)`
        : "";
      this.problem(
        `'${name}' must be a reference such as ${kinds[0]}.NAME, got ${describe(v)}${hint}`,
        name,
      );
      return undefined;
    }
    if (!kinds.includes(m[1])) {
      this.problem(
        `'${name}' refers to '${m[1]}.${m[2]}', but must refer to ${
          kinds.map((k) => `${k}.*`).join(" or ")
        }`,
        name,
      );
      return undefined;
    }
    return { kind: m[1], name: m[2] };
  }

  /** Reports every attribute or nested block that no getter asked for. */
  reportUnknown(): void {
    for (const name of Object.keys(this.#body)) {
      if (!this.#used.has(name)) this.problem(`unknown attribute or block '${name}'`, name);
    }
  }
}

/**
 * hcl2json hands strings back as HCL templates: a literal `${` arrives escaped as `$${`, a literal
 * `%{` as `%%{`, and an interpolation or directive arrives as-is. Returns the literal text, or
 * `null` when the string interpolates (the config has no variables, so that is a mistake).
 */
export function templateLiteral(v: string): string | null {
  let out = "";
  for (let i = 0; i < v.length; i++) {
    const c = v[i];
    if ((c === "$" || c === "%") && v[i + 1] === c && v[i + 2] === "{") {
      out += c + "{";
      i += 2;
    } else if ((c === "$" || c === "%") && v[i + 1] === "{") {
      return null;
    } else {
      out += c;
    }
  }
  return out;
}

/**
 * Whether `value` is `host:port` as listen and upstream settings take it: a DNS name or IPv4
 * address, or an IPv6 address in brackets, and a port up to 65535. Nothing else (no quotes, no
 * `${`), so a checked value can be written into HCL as is.
 *
 * @example
 * ```ts
 * isHostPort("127.0.0.1:8080"); // true
 * isHostPort("8080"); // false
 * ```
 */
export function isHostPort(value: string): boolean {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(value);
  return m !== null && Number(m[2]) <= 65535;
}

/** `host:port` with a numeric port, `fallback` when absent or malformed (reported). */
export function listenAddress(r: BlockReader, field: string, fallback: string): string {
  return r.hostPort(field) ?? fallback;
}

/** Parses a duration (number = seconds) into milliseconds, or `null` when malformed. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === "number") return Number.isFinite(v) && v >= 0 ? v * 1000 : null;
  if (typeof v !== "string") return null;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(v.trim());
  if (!m) return null;
  const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  const unit = units[m[2] as keyof typeof units];
  return Math.round(Number(m[1]) * unit);
}

/** Parses a byte size (number = bytes) or `null` when malformed. */
export function parseSize(v: unknown): number | null {
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? v : null;
  if (typeof v !== "string") return null;
  const m = /^(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?$/.exec(v.trim());
  if (!m) return null;
  const units: Record<string, number> = {
    B: 1,
    KB: 1e3,
    KiB: 1024,
    MB: 1e6,
    MiB: 1024 ** 2,
    GB: 1e9,
    GiB: 1024 ** 3,
  };
  return Number(m[1]) * units[m[2] ?? "B"];
}

/** Describes a value's HCL type for messages, without echoing long or secret-looking values. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "string") {
    if (REFERENCE.test(v)) return `reference ${v.slice(2, -1)}`;
    return v.length > 40 ? "a string" : `"${v}"`;
  }
  if (typeof v === "object") return "a block or object";
  return `${typeof v} ${String(v)}`;
}
