/**
 * A library imported the first time a request needs it, for code that must stay synchronous
 * (facts are built in one synchronous pass). A gateway that never sees a GraphQL request or a
 * YAML body never holds those parsers: without them its V8 heap after start is 16.1 MB instead
 * of 18.7 (bench/README.md, "What an idle gateway holds").
 *
 * The synchronous code calls {@linkcode Lazy.get}; before the library is in, that throws
 * {@linkcode NotLoaded}, and the asynchronous caller awaits {@linkcode NotLoaded.ready} and runs
 * the pass again. A library that fails to load fails that request (callers refuse it), and the
 * next request tries again.
 *
 * @module
 */

/**
 * A library behind a dynamic `import()`.
 *
 * @example
 * ```ts
 * const YAML = new Lazy("yaml", () => import("yaml"));
 * try {
 *   YAML.get().parse("a: 1");
 * } catch (err) {
 *   if (err instanceof NotLoaded) await err.ready();
 * }
 * YAML.get().parse("a: 1"); // { a: 1 }
 * ```
 */
export class Lazy<T> {
  #value: T | undefined;
  #loading: Promise<T> | undefined;
  readonly #load: () => Promise<T>;

  /** `load` must be a literal `import("…")`, so that `deno compile` embeds the library. */
  constructor(readonly name: string, load: () => Promise<T>) {
    this.#load = load;
  }

  /** The library; throws {@linkcode NotLoaded} until {@linkcode ready} has resolved once. */
  get(): T {
    if (this.#value === undefined) throw new NotLoaded(this);
    return this.#value;
  }

  /** Whether the library is in (tests and memory reports). */
  get loaded(): boolean {
    return this.#value !== undefined;
  }

  /** Loads the library once; a failed load is retried by the next call. */
  ready(): Promise<T> {
    return this.#loading ??= this.#load().then(
      (value) => this.#value = value,
      (err) => {
        this.#loading = undefined;
        throw err;
      },
    );
  }
}

/** Thrown by {@linkcode Lazy.get} before the library is loaded. */
export class NotLoaded extends Error {
  constructor(readonly library: Lazy<unknown>) {
    super(`${library.name} is not loaded yet`);
    this.name = "NotLoaded";
  }

  /** Loads the library the failed call needed. */
  ready(): Promise<unknown> {
    return this.library.ready();
  }
}

/**
 * `run()`, and again after loading the library it needed if it threw {@linkcode NotLoaded}
 * (a few times at most: each retry has one more library in). Synchronous when nothing needed
 * loading, so the common path pays no promise.
 */
export function withLibraries<T>(run: () => T): T | Promise<T> {
  try {
    return run();
  } catch (err) {
    if (!(err instanceof NotLoaded)) throw err;
    return afterLoading(run, err);
  }
}

const MAX_LOADS = 4;

async function afterLoading<T>(run: () => T, missing: NotLoaded): Promise<T> {
  for (let loads = 1;; loads++) {
    await missing.ready();
    try {
      return run();
    } catch (err) {
      if (!(err instanceof NotLoaded) || loads >= MAX_LOADS) throw err;
      missing = err;
    }
  }
}
