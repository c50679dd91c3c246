/**
 * How many receipts one client address may cause per minute on paths anyone on the network can
 * hit without authenticating (the DNS responder, connections to virtual IPs from unknown
 * addresses). Past the budget one receipt says the rest is counted, not recorded: a flood would
 * otherwise fill the queue every agent's receipts wait in.
 *
 * @module
 */

/** The window a budget covers. */
export const BUDGET_WINDOW_MS = 60_000;
/** Receipts one address may cause per window. */
export const RECEIPTS_PER_WINDOW = 100;
/** Addresses remembered: a flood from many addresses cannot grow memory. */
const MAX_SOURCES = 4_096;

/** Per-address receipt budgets. */
export class ReceiptBudget {
  readonly #windows = new Map<string, { since: number; count: number }>();

  /**
   * Spends one receipt of `source`'s budget: `"some"` record it, `"last"` record that the rest
   * of the window goes unrecorded, `"none"` record nothing.
   */
  take(source: string, now: number): "some" | "last" | "none" {
    let window = this.#windows.get(source);
    if (window === undefined || now - window.since >= BUDGET_WINDOW_MS) {
      window = { since: now, count: 0 };
      this.#windows.delete(source);
      this.#windows.set(source, window);
      if (this.#windows.size > MAX_SOURCES) {
        this.#windows.delete(this.#windows.keys().next().value!);
      }
    }
    window.count++;
    if (window.count <= RECEIPTS_PER_WINDOW) return "some";
    return window.count === RECEIPTS_PER_WINDOW + 1 ? "last" : "none";
  }
}
