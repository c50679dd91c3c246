/**
 * `clawpatrol log [--follow] [--json] [--verdict V] [--agent A] [--since T] [--limit N]`,
 * `clawpatrol log verify [--checkpoint FILE [--pubkey KEY]…]`, `clawpatrol log pubkey [--rotate]`
 * and `clawpatrol log fixture RCPT_ID…`.
 *
 * @module
 */

import { dirname, join } from "node:path";
import type { Receipt } from "../core/mod.ts";
import { parseDuration } from "../config/mod.ts";
import type { Config } from "../config/mod.ts";
import {
  fixturesYaml,
  queryReceipts,
  type ReceiptFilter,
  receiptFixture,
  verifyChain,
} from "../audit/mod.ts";
import { loadAndCompile, RECEIPTS_FILE, stateDirOf } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { printAnchorKey, verifyAnchors } from "./_log_anchors.ts";

const FOLLOW_POLL_MS = 500;

/** Runs `clawpatrol log` or `clawpatrol log verify`. */
export async function logCommand(args: string[]): Promise<number> {
  const { values, positionals, global } = parseCommand(args, {
    follow: { type: "boolean", short: "f" },
    json: { type: "boolean" },
    verdict: { type: "string" },
    agent: { type: "string" },
    since: { type: "string" },
    limit: { type: "string" },
    checkpoint: { type: "string" },
    pubkey: { type: "string", multiple: true },
    rotate: { type: "boolean" },
    "passphrase-stdin": { type: "boolean" },
  });
  const { config } = await loadAndCompile(global.config);
  const dbPath = join(await stateDirOf(config), RECEIPTS_FILE);
  const stateDir = dirname(dbPath);
  const passphraseStdin = values["passphrase-stdin"] === true;
  if (positionals[0] === "verify") {
    if (positionals.length > 1) throw new UsageError("log verify takes no arguments");
    await assertExists(dbPath);
    const chain = verify(dbPath);
    if (typeof values.checkpoint !== "string") return chain;
    const pinned = (values.pubkey ?? []) as string[];
    const anchors = await verifyAnchors(dbPath, values.checkpoint, {
      pinned,
      stateDir,
      passphraseStdin,
    });
    return Math.max(chain, anchors);
  }
  if (positionals[0] === "pubkey") {
    if (positionals.length > 1) throw new UsageError("log pubkey takes no arguments");
    return await printAnchorKey(stateDir, { rotate: values.rotate === true, passphraseStdin });
  }
  if (positionals[0] === "fixture") {
    if (positionals.length < 2) throw new UsageError("log fixture needs one or more RCPT_IDs");
    await assertExists(dbPath);
    return await fixtures(dbPath, config, positionals.slice(1));
  }
  if (positionals.length > 0) throw new UsageError(`unknown log subcommand '${positionals[0]}'`);
  const filter: ReceiptFilter = {};
  if (values.verdict !== undefined) {
    if (values.verdict !== "allow" && values.verdict !== "deny") {
      throw new UsageError(`--verdict must be allow or deny, got '${values.verdict}'`);
    }
    filter.verdict = values.verdict;
  }
  if (typeof values.agent === "string") filter.agent = values.agent;
  if (typeof values.since === "string") filter.since = parseSince(values.since);
  const limit = values.limit === undefined ? 50 : Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) {
    throw new UsageError(`--limit must be a positive whole number, got '${values.limit}'`);
  }
  await assertExists(dbPath);
  const print = (r: Receipt) => out(values.json ? toJsonLine(r) : toTextLine(r));
  let last = 0;
  for (const r of queryReceipts(dbPath, { ...filter, limit })) {
    print(r);
    last = r.seq;
  }
  if (!values.follow) return 0;
  let stop = false;
  const onSignal = () => (stop = true);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    while (!stop) {
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      for (const r of queryReceipts(dbPath, { ...filter, afterSeq: last, limit: 1000 })) {
        print(r);
        last = r.seq;
      }
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
  return 0;
}

function verify(dbPath: string): number {
  const result = verifyChain(dbPath);
  if (result.ok) {
    out(`${dbPath}: ok: ${result.rows} receipts, hash chain intact`);
    return 0;
  }
  const what = result.table === "outcomes" ? "outcome" : "receipt";
  out(
    `${dbPath}: BROKEN at ${what} seq ${result.brokenSeq}: ${result.problem} (${result.rows} ${what}s verified before it)`,
  );
  return 1;
}

/**
 * `log fixture ID…`: the receipts as one fixture file on stdout; 1 if any cannot be one. The
 * expected verdicts are what `clawpatrol test` yields with `config` (its mode and rules' modes).
 */
async function fixtures(dbPath: string, config: Config, ids: string[]): Promise<number> {
  const cases: Record<string, unknown>[] = [];
  const options = {
    gatewayMode: config.gateway.mode,
    ruleMode: (name: string) => config.rules.find((r) => r.name === name)?.mode ?? undefined,
  };
  let failed = false;
  for (const id of ids) {
    const receipt = queryReceipts(dbPath, { id })[0];
    const fixture = receipt ? receiptFixture(receipt, options) : `no receipt ${id}`;
    if (typeof fixture === "string") {
      err(`Error: ${fixture}`);
      failed = true;
    } else cases.push(fixture);
  }
  if (cases.length > 0) out((await fixturesYaml(cases)).trimEnd());
  return failed ? 1 : 0;
}

async function assertExists(path: string): Promise<void> {
  try {
    await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(`No receipts yet: '${path}' does not exist (start the gateway first)`);
    }
    throw e;
  }
}

/** `--since`: an ISO time, or a duration ago such as `10m` or `2h`. */
export function parseSince(value: string): Date {
  const ago = parseDuration(value);
  if (ago !== null && !/^\d+$/.test(value)) return new Date(Date.now() - ago);
  const t = Date.parse(value);
  if (Number.isNaN(t)) {
    throw new UsageError(
      `--since must be an ISO time (2026-01-31T12:00:00Z) or a duration such as 10m, got '${value}'`,
    );
  }
  return new Date(t);
}

function toTextLine(r: Receipt): string {
  const verdict = r.verdict === r.wouldBe ? r.verdict : `${r.verdict}(would ${r.wouldBe})`;
  return [
    r.time.toISOString(),
    verdict.padEnd(5),
    r.agent ?? "-",
    r.endpoint ?? "-",
    r.rule ?? "-",
    JSON.stringify(r.summary),
    r.reason ? `reason=${JSON.stringify(r.reason)}` : "",
    // Written ahead, never completed: the gateway stopped while the action was in flight.
    r.outcome === null ? "outcome=unknown(gateway stopped)" : "",
    r.id,
  ].filter(Boolean).join(" ");
}

function toJsonLine(r: Receipt): string {
  return JSON.stringify(
    { ...r, time: r.time.toISOString() },
    (_k, v) => typeof v === "bigint" ? Number(v) : v,
  );
}
