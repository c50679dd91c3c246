/**
 * A progress line for long CLI work (`log verify` over millions of receipts): one line on a
 * terminal, rewritten in place at most every few hundred milliseconds and cleared at the end.
 * Nothing is written where stderr is not a terminal, so scripts read the result alone.
 *
 * @module
 */

const encoder = new TextEncoder();

/** A counter written as `label: done of total rows (p%)`, throttled. */
export class TerminalProgress {
  readonly #label: string;
  readonly #write: (text: string) => void;
  readonly #now: () => number;
  readonly #intervalMs: number;
  #lastAt = -Infinity;
  #shown = false;

  constructor(
    label: string,
    write: (text: string) => void,
    options: { now?: () => number; intervalMs?: number } = {},
  ) {
    this.#label = label;
    this.#write = write;
    this.#now = options.now ?? (() => performance.now());
    this.#intervalMs = options.intervalMs ?? 250;
  }

  /** Shows `done` of `total`, unless the line was rewritten less than an interval ago. */
  update(done: number, total: number): void {
    const at = this.#now();
    if (at - this.#lastAt < this.#intervalMs && done < total) return;
    this.#lastAt = at;
    this.#shown = true;
    const percent = total > 0 ? Math.floor(100 * done / total) : 100;
    const count = (n: number) => n.toLocaleString("en-US");
    this.#write(`\r${this.#label}: ${count(done)} of ${count(total)} rows (${percent}%)\x1b[K`);
  }

  /** Clears the line, if one was shown, so the result prints on a clean line. */
  end(): void {
    if (this.#shown) this.#write("\r\x1b[K");
    this.#shown = false;
  }
}

/** A progress line on stderr when stderr is a terminal; otherwise none. */
export function stderrProgress(label: string): TerminalProgress | undefined {
  if (!Deno.stderr.isTerminal()) return undefined;
  return new TerminalProgress(label, (text) => {
    const bytes = encoder.encode(text);
    for (let at = 0; at < bytes.length;) at += Deno.stderr.writeSync(bytes.subarray(at));
  });
}
