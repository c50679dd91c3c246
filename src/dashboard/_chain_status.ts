/**
 * The Health page's "Receipt chain" reading: `clawpatrol log verify` run off the gateway's
 * thread, at most once a minute however often the page is loaded (a walk over every receipt is
 * not free), with concurrent loads sharing one run.
 *
 * @module
 */

/** What a verification found. */
export type ChainResult = { ok: boolean; rows: number; brokenSeq?: number; problem?: string };

/** How long a verification is shown before the next page load runs another. */
export const CHAIN_STATUS_TTL_MS = 60_000;

/** The latest verification, refreshed when older than {@linkcode CHAIN_STATUS_TTL_MS}. */
export class ChainStatus {
  readonly #verify: () => Promise<ChainResult>;
  readonly #now: () => number;
  #last: { at: number; text: string } | undefined;
  #running: Promise<string> | undefined;

  constructor(verify: () => Promise<ChainResult>, now: () => number = Date.now) {
    this.#verify = verify;
    this.#now = now;
  }

  /** The reading as one line: intact with its count, broken at a seq, or why it could not run. */
  async text(): Promise<string> {
    if (this.#last && this.#now() - this.#last.at < CHAIN_STATUS_TTL_MS) return this.#last.text;
    this.#running ??= this.#run().finally(() => this.#running = undefined);
    return await this.#running;
  }

  async #run(): Promise<string> {
    const at = this.#now();
    let text: string;
    try {
      const result = await this.#verify();
      text = result.ok
        ? `intact: ${result.rows} receipts verified`
        : `BROKEN at seq ${result.brokenSeq}: ${result.problem} (${result.rows} verified before it)`;
    } catch (err) {
      text = `cannot verify: ${(err as Error).message}`;
    }
    text += ` (checked ${new Date(at).toISOString()}; clawpatrol log verify)`;
    this.#last = { at, text };
    return text;
  }
}
