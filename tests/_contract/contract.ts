/**
 * The protocol contract (issue 17): five properties every protocol the gateway speaks must
 * hold, checked with a real client of that protocol against a running gateway and a real
 * upstream. Each protocol implements {@linkcode ContractDriver} in `<protocol>_driver.ts` and
 * its test file calls {@linkcode protocolContract}.
 *
 * 1. A deny is the protocol's native error (not a dropped connection or a foreign shape).
 * 2. An action whose rule reads a fact the gateway cannot know is denied (fail closed).
 * 3. Exactly one receipt per action.
 * 4. A client that disconnects mid-action still gets its receipt, saying it went away.
 * 5. The upstream secret never reaches a receipt (raw rows of receipts.db) or a log line.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import type { Receipt } from "../../src/core/mod.ts";
import { eventually, withTimeout } from "../_helpers.ts";

/** What a real client saw for one action. */
export interface ActionResult {
  /** The client reports success (2xx/3xx/4xx from the upstream, rows, …): not refused. */
  ok: boolean;
  /** HTTP status, SQLSTATE, exit code: whatever the protocol's client reports. */
  status: number | string;
  /** Body or error text as the client shows it. */
  text: string;
  /** The receipt id the client was told (header, error detail, Status message), if any. */
  receipt?: string;
}

/** A running gateway with one endpoint of the protocol, from {@linkcode ContractDriver.start}. */
export interface ContractGateway {
  /** An action the rules allow, naming `marker` (in a path, SQL text or query). */
  allowed(marker: string): Promise<ActionResult>;
  /** An action the rules deny, naming `marker`. */
  denied(marker: string): Promise<ActionResult>;
  /** An action whose deciding rule reads a fact the gateway cannot know, naming `marker`. */
  unevaluable(marker: string): Promise<ActionResult>;
  /**
   * Starts an allowed action naming `marker` that the upstream is slow to answer, waits until
   * it is in flight, then makes the client go away; resolves once the client is gone.
   */
  disconnectMidAction(marker: string): Promise<void>;
  /** Whether the upstream received an action naming `marker` (undefined: cannot tell). */
  upstreamSaw?(marker: string): boolean;
  /** True once the upstream has been handed the secret (proves the secret check is not vacuous). */
  secretUsed(): boolean | Promise<boolean>;
  /** Committed receipts (queue flushed). */
  receipts(): Promise<Receipt[]>;
  /** Path of receipts.db, read raw (read-only) for the secret check. */
  receiptsDb: string;
  /** Every gateway log line so far, message and fields as text. */
  logLines(): string[];
  /** Stops the gateway, the upstream and the client helpers; removes temp files. */
  stop(): Promise<void>;
}

/** The five properties, as keys for {@linkcode ContractDriver.knownBugs}. */
export type ContractProperty =
  | "nativeDeny"
  | "unevaluable"
  | "oneReceiptEach"
  | "disconnect"
  | "secrets";

/** What each protocol implements. */
export interface ContractDriver {
  /** Rule text the driver's gateway is started with (see each driver for what it holds). */
  rules: string;
  /** Starts a gateway with `rules`, an upstream, an enrolled agent and a vaulted secret. */
  start(rules: string): Promise<ContractGateway>;
  /** Whether `result` is the protocol's native deny (403 JSON, SQLSTATE 42501, Status 403). */
  isNativeDeny(result: ActionResult): boolean;
  /** The real upstream credential, which must appear in no receipt and no log line. */
  secret: string;
  /** What the receipt of an abandoned action says (in `outcome.error` or `reason`). */
  gone: RegExp;
  /** Skip the whole contract (e.g. PostgreSQL binaries missing). */
  ignore?: boolean;
  /** Properties that fail today: each is ignored, naming the bug. Never used to hide flakes. */
  knownBugs?: Partial<Record<ContractProperty, string>>;
}

const ACTION_MS = 20_000;

/** A marker unique to this run, safe in URLs, SQL identifiers/strings and k8s names. */
export function marker(kind: string): string {
  return `cp${kind}${crypto.randomUUID().slice(0, 8)}`.toLowerCase();
}

/** Whether a receipt names `marker` (summary or facts). */
export function names(receipt: Receipt, m: string): boolean {
  return JSON.stringify([receipt.summary, receipt.facts]).includes(m);
}

function describe(r: ActionResult): string {
  return `ok=${r.ok} status=${r.status} receipt=${r.receipt ?? "-"} text=${r.text.slice(0, 300)}`;
}

async function receiptsNaming(gw: ContractGateway, m: string): Promise<Receipt[]> {
  return (await gw.receipts()).filter((r) => names(r, m));
}

/** The one receipt naming `m`, waited for; fails when there are two. */
async function theReceipt(gw: ContractGateway, m: string): Promise<Receipt> {
  const found = await eventually(`a receipt naming ${m}`, async () => {
    const rows = await receiptsNaming(gw, m);
    return rows.length > 0 ? rows : undefined;
  });
  ok(found.length === 1, `${found.length} receipts name ${m}: ${found.map((r) => r.summary)}`);
  return found[0];
}

function act(what: string, p: Promise<ActionResult>): Promise<ActionResult> {
  return withTimeout(p, ACTION_MS, what);
}

/** Every way a secret could be spelled in stored text. */
function spellings(secret: string): string[] {
  return [secret, encodeURIComponent(secret), btoa(secret), JSON.stringify(secret).slice(1, -1)];
}

/** Every row of receipts and outcomes in `path`, as text, read with a read-only connection. */
export function rawReceiptRows(path: string): string[] {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const rows: string[] = [];
    for (const table of ["receipts", "outcomes"]) {
      for (const row of db.prepare(`SELECT * FROM ${table}`).all()) rows.push(JSON.stringify(row));
    }
    return rows;
  } finally {
    db.close();
  }
}

/**
 * Registers one Deno test, `NAME protocol contract`, whose steps check the five properties
 * against one gateway started by `driver`.
 *
 * @example
 * ```ts
 * protocolContract("https", httpsDriver);
 * ```
 */
export function protocolContract(name: string, driver: ContractDriver): void {
  const bugs = driver.knownBugs ?? {};
  Deno.test({
    name: `${name} protocol contract`,
    ignore: driver.ignore,
    // Real clients (child processes, node sockets) and fixtures own resources across steps.
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async (t) => {
      const gw = await driver.start(driver.rules);
      const step = (property: ContractProperty, title: string, fn: () => Promise<void>) =>
        t.step({ name: title, ignore: bugs[property] !== undefined, fn });
      try {
        await step("nativeDeny", "a deny is the protocol's native error", async () => {
          const allowMark = marker("allow");
          const allowed = await act("the allowed action", gw.allowed(allowMark));
          ok(allowed.ok, `the allowed action failed: ${describe(allowed)}`);
          ok(
            !driver.isNativeDeny(allowed),
            `the allowed action looks denied: ${describe(allowed)}`,
          );
          const denyMark = marker("deny");
          const denied = await act("the denied action", gw.denied(denyMark));
          ok(!denied.ok, `the denied action succeeded: ${describe(denied)}`);
          ok(driver.isNativeDeny(denied), `not a native deny: ${describe(denied)}`);
          const receipt = await theReceipt(gw, denyMark);
          ok(receipt.verdict === "deny", `verdict ${receipt.verdict}`);
          if (denied.receipt !== undefined) {
            ok(
              denied.receipt === receipt.id,
              `client told ${denied.receipt}, stored ${receipt.id}`,
            );
          }
          ok((await theReceipt(gw, allowMark)).verdict === "allow");
          ok(gw.upstreamSaw?.(denyMark) !== true, "the denied action reached the upstream");
          ok(gw.upstreamSaw?.(allowMark) !== false, "the allowed action never reached upstream");
        });

        await step(
          "unevaluable",
          "an action on a fact the gateway cannot know is denied",
          async () => {
            const m = marker("unknown");
            const result = await act("the unevaluable action", gw.unevaluable(m));
            ok(!result.ok, `the unevaluable action succeeded: ${describe(result)}`);
            ok(driver.isNativeDeny(result), `not a native deny: ${describe(result)}`);
            const receipt = await theReceipt(gw, m);
            ok(receipt.verdict === "deny", `verdict ${receipt.verdict}`);
            ok(gw.upstreamSaw?.(m) !== true, "the unevaluable action reached the upstream");
          },
        );

        await step("oneReceiptEach", "exactly one receipt per action", async () => {
          const marks = [0, 1, 2, 3].map((i) => marker(`each${i}`));
          for (const [i, m] of marks.entries()) {
            const run = i % 2 === 0 ? gw.allowed(m) : gw.denied(m);
            const result = await act(`action ${m}`, run);
            ok(result.ok === (i % 2 === 0), `action ${m}: ${describe(result)}`);
          }
          // Every action's receipt is there; after everything settled, no second one appeared.
          for (const m of marks) await theReceipt(gw, m);
          const all = await gw.receipts();
          for (const m of marks) {
            const count = all.filter((r) => names(r, m)).length;
            ok(count === 1, `${count} receipts name ${m}`);
          }
        });

        await step(
          "disconnect",
          "a client that disconnects mid-action gets its receipt",
          async () => {
            const m = marker("gone");
            await withTimeout(gw.disconnectMidAction(m), ACTION_MS, "the abandoned action");
            const receipt = await eventually(`an abandoned receipt naming ${m}`, async () => {
              const rows = await receiptsNaming(gw, m);
              ok(rows.length <= 1, `${rows.length} receipts name ${m}`);
              const r = rows[0];
              if (!r) return undefined;
              const said = `${r.outcome?.error ?? ""} ${r.reason}`;
              if (driver.gone.test(said)) return r;
              // Kept as the last error, so a timeout shows what the receipt says instead.
              throw new Error(`the receipt says '${said}' (outcome ${JSON.stringify(r.outcome)})`);
            }, 15_000);
            ok(receipt.verdict === "allow", `verdict ${receipt.verdict}`);
            ok((await receiptsNaming(gw, m)).length === 1, `more than one receipt names ${m}`);
          },
        );

        await step(
          "secrets",
          "the upstream secret reaches no receipt and no log line",
          async () => {
            // Non-vacuous: the secret was used, and there are receipts to search.
            const extra = marker("secret");
            const allowed = await act("an allowed action", gw.allowed(extra));
            ok(allowed.ok, describe(allowed));
            ok(await gw.secretUsed(), "the upstream never received the secret");
            await theReceipt(gw, extra);
            const rows = rawReceiptRows(gw.receiptsDb);
            ok(rows.length > 0, "no receipt rows");
            const lines = gw.logLines();
            for (const s of spellings(driver.secret)) {
              const row = rows.find((r) => r.includes(s));
              ok(row === undefined, `a receipt row holds the secret: ${row?.slice(0, 200)}`);
              const line = lines.find((l) => l.includes(s));
              ok(line === undefined, `a log line holds the secret: ${line?.slice(0, 200)}`);
            }
          },
        );
      } finally {
        await gw.stop();
      }
    },
  });
}

/**
 * Holds a callback-style fixture (`withProxy(options, fn)`) open: resolves with the fixture,
 * and `release()` lets `fn` return so the fixture tears down.
 */
export async function holdFixture<F>(
  run: (fn: (fx: F) => Promise<void>) => Promise<void>,
): Promise<{ fx: F; release: () => Promise<void> }> {
  let release!: () => void;
  const released = new Promise<void>((resolve) => release = resolve);
  let got!: (fx: F) => void;
  let failed!: (err: unknown) => void;
  const ready = new Promise<F>((resolve, reject) => [got, failed] = [resolve, reject]);
  const done = run(async (fx) => {
    got(fx);
    await released;
  });
  done.catch(failed);
  const fx = await ready;
  return {
    fx,
    release: async () => {
      release();
      await done;
    },
  };
}

/** A log line as text: level, message and fields. */
export function logText(line: { level: string; message: string; fields?: unknown }): string {
  return `${line.level} ${line.message} ${line.fields ? JSON.stringify(line.fields) : ""}`;
}
