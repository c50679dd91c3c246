/**
 * Helpers for the tests that hold the TypeScript HCL parser against hcl2json: both parsers'
 * outcomes for one text, how they may differ, and the configs the repo ships or writes.
 *
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parsePostgresUrl, quickstartConfig } from "../cli/_quickstart_config.ts";
import { readPacks, STARTER_PACKS, starterConfig } from "../cli/_starter.ts";
import { hclInProcess, type HclParse } from "./_hcl.ts";
import { parseHcl } from "./_hcl_parse.ts";
import { hclProblems } from "./load.ts";

/** A parser's answer for one text: its JSON as text, or its error message. */
export type Outcome = { json: string } | { error: string };

/** hcl2json in a Go runtime of its own, started again should its Go program stop. */
export class Reference {
  #parse: HclParse = hclInProcess();

  async parse(file: string, text: string): Promise<Outcome> {
    try {
      return { json: JSON.stringify(await this.#parse(file, text)) };
    } catch (err) {
      const error = (err as Error).message;
      if (/HCL parser (stopped|did not start)/.test(error)) this.#parse = hclInProcess();
      return { error };
    }
  }
}

/** The TypeScript parser's answer; a failure not in hcl2json's words is a bug, and thrown. */
export function ours(file: string, text: string): Outcome {
  try {
    return { json: JSON.stringify(parseHcl(file, text)) };
  } catch (err) {
    const error = (err as Error).message;
    if (!/^(parse config|convert to HCL): /.test(error)) throw err;
    return { error };
  }
}

/** Whether our failure is a deliberate refusal of syntax hcl2json accepts. */
export function isUnsupported(outcome: Outcome): boolean {
  return "error" in outcome && outcome.error.includes(": Unsupported syntax; ");
}

/** The first problem load.ts would report for a failure: its line and message. */
export function firstProblem(file: string, outcome: Outcome): string | null {
  if (!("error" in outcome)) return null;
  const [first] = hclProblems(file, outcome.error);
  return `${first.line}: ${first.message}`;
}

/**
 * Why our outcome differs from hcl2json's, or null when it does not: the same JSON text, or
 * both failing. With `sameProblem`, a syntax error must also come out as the same first problem
 * (conversion errors are left out: hcl2json meets a body's attributes in Go's random map order).
 */
export function difference(
  file: string,
  theirs: Outcome,
  mine: Outcome,
  sameProblem: boolean,
): string | null {
  if ("json" in theirs && "json" in mine) {
    return theirs.json === mine.json ? null : `JSON differs:\n${theirs.json}\n${mine.json}`;
  }
  if ("json" in theirs || "json" in mine) {
    const [t, m] = [theirs, mine].map((o) => "json" in o ? o.json : o.error);
    return `only one failed:\nhcl2json: ${t}\nours:     ${m}`;
  }
  if (!sameProblem || !theirs.error.startsWith("parse config")) return null;
  const [t, m] = [firstProblem(file, theirs), firstProblem(file, mine)];
  return t === m ? null : `first problems differ:\nhcl2json: ${t}\nours:     ${m}`;
}

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Every `.hcl` file under the repo (not dependencies, state or dot directories). */
async function repoFiles(dir = ROOT): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) {
      if (entry.name.startsWith(".") || ["node_modules", "state"].includes(entry.name)) continue;
      found.push(...await repoFiles(path));
    } else if (entry.isFile && entry.name.endsWith(".hcl")) found.push(path);
  }
  return found.sort();
}

/** The repo's `.hcl` files and the configs `clawpatrol init` and `quickstart` write. */
export async function corpus(): Promise<[string, string][]> {
  const files: [string, string][] = [];
  for (const path of await repoFiles()) {
    files.push([path.slice(ROOT.length), await Deno.readTextFile(path)]);
  }
  const packs = await readPacks(STARTER_PACKS);
  const plan = {
    proxyListen: "127.0.0.1:13128",
    adminListen: "127.0.0.1:13129",
    postgresListen: "127.0.0.1:15432",
    apiAddress: "127.0.0.1:18443",
    vipRange: "10.79.7.0/24",
  };
  return [
    ...files,
    ["init.hcl", starterConfig(packs)],
    ["init-ipv6.hcl", starterConfig(packs, { proxyListen: "[::1]:3128" })],
    ["init-service.hcl", starterConfig([], { stateDir: "/var/lib/clawpatrol" })],
    [
      "quickstart.hcl",
      quickstartConfig({ ...plan, database: parsePostgresUrl("postgres://app@10.0.0.5/app") }),
    ],
    [
      "quickstart-verified.hcl",
      quickstartConfig({
        ...plan,
        database: parsePostgresUrl("postgres://ro@db.example.com:6432/shop?sslmode=verify-full"),
      }),
    ],
  ];
}

/**
 * Parses each case with both parsers and fails listing every case where they disagree (JSON
 * text, failing at all, or a syntax error's first problem) or where hcl2json does not do what
 * the case is for: parse (`"valid"`) or fail (`"invalid"`).
 */
export async function assertSameAsHcl2json(
  cases: readonly string[],
  kind: "valid" | "invalid",
): Promise<void> {
  const reference = new Reference();
  const failures: string[] = [];
  for (const text of cases) {
    const theirs = await reference.parse("t.hcl", text);
    const why = ("json" in theirs) !== (kind === "valid")
      ? `hcl2json does not find it ${kind}: ${JSON.stringify(theirs)}`
      : difference("t.hcl", theirs, ours("t.hcl", text), true);
    if (why) failures.push(`${JSON.stringify(text)}\n${why}`);
  }
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${cases.length} cases differ:\n\n${failures.join("\n\n")}`,
    );
  }
}
