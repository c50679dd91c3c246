/**
 * `clawpatrol log [--follow] [--json] [--verdict V] [--agent A] [--since T] [--limit N]
 * [--gateway ID] [--local]`, `clawpatrol log verify [--local] [--checkpoint FILE [--pubkey KEY]…]`,
 * `clawpatrol log pubkey [--rotate]` and `clawpatrol log fixture RCPT_ID…`.
 *
 * With `gateway.store`, `log` lists every gateway's receipts from the store (each line names its
 * gateway) and `log verify` checks every chain there as well as the local one; `--local` reads
 * only this host's `state_dir`, as without a store.
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
  verifyChainParallel,
} from "../audit/mod.ts";
import { loadAndCompile, RECEIPTS_FILE, stateDirOf } from "../gateway/mod.ts";
import { parseCommand, UsageError } from "./_args.ts";
import { err, out } from "./_io.ts";
import { stderrProgress } from "./_progress.ts";
import { printAnchorKey, verifyAnchors } from "./_log_anchors.ts";
import { logAcrossGateways, storeVerify } from "./_store_receipts.ts";

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
    local: { type: "boolean" },
    gateway: { type: "string" },
  });
  const { config } = await loadAndCompile(global.config);
  const store = values.local === true ? undefined : config.gateway.store;
  if (typeof values.gateway === "string" && (!store || positionals.length > 0)) {
    throw new UsageError(
      "--gateway picks one gateway's receipts in the shared store: for 'log' with gateway.store",
    );
  }
  const dbPath = join(await stateDirOf(config), RECEIPTS_FILE);
  const stateDir = dirname(dbPath);
  const passphraseStdin = values["passphrase-stdin"] === true;
  if (positionals[0] === "verify") {
    if (positionals.length > 1) throw new UsageError("log verify takes no arguments");
    let chain: number;
    if (store && !await exists(dbPath)) {
      out(`${dbPath}: no local receipts (this host serves no gateway)`);
      chain = 0;
    } else {
      await assertExists(dbPath);
      chain = await verify(dbPath);
    }
    // Every gateway's chain in the store too, each line naming its gateway.
    if (store) chain = Math.max(chain, await storeVerify(store));
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
  if (store) {
    let stop = false;
    return await following(
      () => stop = true,
      values.follow === true,
      (until) =>
        logAcrossGateways(store, {
          filter: { ...filter, limit, gateway: values.gateway as string | undefined },
          print: ({ gateway, receipt }) =>
            out(values.json ? toJsonLine(receipt, gateway) : `${toTextLine(receipt)} ${gateway}`),
          until: until ? () => stop : undefined,
        }),
    );
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
  return await following(() => stop = true, true, async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, FOLLOW_POLL_MS));
      for (const r of queryReceipts(dbPath, { ...filter, afterSeq: last, limit: 1000 })) {
        print(r);
        last = r.seq;
      }
    }
    return 0;
  });
}

/** Runs `run`; when it follows, SIGINT and SIGTERM call `onSignal` (which ends the loop). */
async function following(
  onSignal: () => void,
  follow: boolean,
  run: (follow: boolean) => Promise<number>,
): Promise<number> {
  if (!follow) return await run(false);
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    return await run(true);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

async function verify(dbPath: string): Promise<number> {
  const progress = stderrProgress("verifying");
  let result;
  try {
    result = await verifyChainParallel(dbPath, {
      progress: progress && ((done, total) => progress.update(done, total)),
    });
  } finally {
    progress?.end();
  }
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

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
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

/** One receipt as JSON; from the store, `gateway` names the gateway that decided it. */
function toJsonLine(r: Receipt, gateway?: string): string {
  return JSON.stringify(
    { ...(gateway === undefined ? {} : { gateway }), ...r, time: r.time.toISOString() },
    (_k, v) => typeof v === "bigint" ? Number(v) : v,
  );
}
