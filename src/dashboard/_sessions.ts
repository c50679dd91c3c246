/**
 * Dashboard sign-in: the admin token or a one-time code buys a session, named by the operator.
 * Only SHA-256 digests of session ids and codes are kept, so a heap dump or a log line holds no
 * usable secret; each session carries its own CSRF token.
 *
 * @module
 */

import { createHash, timingSafeEqual } from "node:crypto";

/** A signed-in operator. */
export interface Session {
  /** Chosen at sign-in; decisions are recorded as `dashboard:<name>`. */
  name: string;
  /** Sent back with every state-changing request (form field or header). */
  csrf: string;
  expiresAt: number;
}

/** Options for {@linkcode Sessions}. */
export interface SessionsOptions {
  /** Whether `presented` is the admin token (compared by hash, in constant time). */
  tokenMatches(presented: string): boolean;
  /** How long a session lasts from sign-in. @default {8 hours} */
  sessionTtlMs?: number;
  /** How long a one-time code stays valid. @default {5 minutes} */
  codeTtlMs?: number;
  now?: () => number;
}

/** The operator's name: what `dashboard:<name>` may hold (as the CLI's `cli:<user>`). */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Failed sign-ins tolerated per window before every attempt is refused until it ends. */
const MAX_FAILURES = 10;
const FAILURE_WINDOW_MS = 60_000;
/** Unambiguous letters and digits (no 0/O, 1/I/L): a code is read off a terminal and typed. */
const CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/** What a sign-in attempt came to. */
export type SignInResult =
  | { ok: true; id: string; session: Session }
  | { ok: false; why: "invalid" | "throttled" };

/** Sessions and one-time codes, in memory: a gateway restart signs everyone out. */
export class Sessions {
  readonly #sessions = new Map<string, Session>();
  readonly #codes = new Map<string, number>();
  readonly #tokenMatches: (presented: string) => boolean;
  readonly #sessionTtlMs: number;
  readonly #codeTtlMs: number;
  readonly #now: () => number;
  #failures: number[] = [];

  constructor(options: SessionsOptions) {
    this.#tokenMatches = options.tokenMatches;
    this.#sessionTtlMs = options.sessionTtlMs ?? 8 * 3600_000;
    this.#codeTtlMs = options.codeTtlMs ?? 5 * 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** Session lifetime in seconds, for the cookie's Max-Age. */
  get maxAgeSeconds(): number {
    return Math.floor(this.#sessionTtlMs / 1000);
  }

  /** A fresh one-time code (`ABCD-EFGH-JKMN`), valid once, for `codeTtlMs`. */
  issueCode(): string {
    this.#sweep();
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    const chars = [...bytes].map((b) => CODE_ALPHABET[b % CODE_ALPHABET.length]).join("");
    const code = chars.match(/.{4}/g)!.join("-");
    this.#codes.set(digest(normaliseCode(code)), this.#now() + this.#codeTtlMs);
    return code;
  }

  /**
   * Signs `name` in with the admin token or a one-time code (consumed). Refuses everything for
   * a while after {@linkcode MAX_FAILURES} failures in a minute: codes are short enough to type.
   */
  signIn(secret: string, name: string): SignInResult {
    const now = this.#now();
    this.#failures = this.#failures.filter((t) => now - t < FAILURE_WINDOW_MS);
    if (this.#failures.length >= MAX_FAILURES) return { ok: false, why: "throttled" };
    if (!NAME_PATTERN.test(name) || !this.#accepts(secret.trim(), now)) {
      this.#failures.push(now);
      return { ok: false, why: "invalid" };
    }
    this.#sweep();
    const id = randomToken();
    const session = { name, csrf: randomToken(), expiresAt: now + this.#sessionTtlMs };
    this.#sessions.set(digest(id), session);
    return { ok: true, id, session };
  }

  /** The live session with this id, if any. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const session = this.#sessions.get(key);
    if (session && session.expiresAt <= this.#now()) {
      this.#sessions.delete(key);
      return undefined;
    }
    return session;
  }

  /** Ends the session with this id. */
  end(id: string | undefined): void {
    if (id) this.#sessions.delete(digest(id));
  }

  #accepts(secret: string, now: number): boolean {
    if (secret.startsWith("cpadm_")) return this.#tokenMatches(secret);
    const key = digest(normaliseCode(secret));
    const expires = this.#codes.get(key);
    if (expires === undefined) return false;
    this.#codes.delete(key);
    return expires > now;
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, expires] of this.#codes) if (expires <= now) this.#codes.delete(key);
    for (const [key, s] of this.#sessions) if (s.expiresAt <= now) this.#sessions.delete(key);
  }
}

/** Whether the CSRF token presented is the session's (constant time). */
export function csrfMatches(session: Session, presented: string | null | undefined): boolean {
  if (!presented) return false;
  const a = createHash("sha256").update(session.csrf).digest();
  const b = createHash("sha256").update(presented).digest();
  return timingSafeEqual(a, b);
}

function normaliseCode(code: string): string {
  return code.toUpperCase().replace(/[^A-Z0-9]/g, "");
}

function digest(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
}
