/**
 * Approval reuse for the protocol fallback of one command: kubectl asks for an exec over a
 * WebSocket first and, when that upgrade is refused (by the API server, or by the gateway's own
 * deny), sends the same exec again over SPDY/3.1. That second request is the same command, so
 * the operator's decision on the first covers it, once, within a short window, and only for
 * the same agent, endpoint, rule, chain and exec facts. A deny carries over as a deny; an allow
 * carries over only when the approved attempt did not run (its upgrade was not switched).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Action, ApprovalStage, Decision } from "../core/mod.ts";
import { canonicalJson } from "./request.ts";

/** How long after a decision its fallback may reuse it. @default {60_000} */
export const REUSE_WINDOW_MS = 60_000;

/** Kubernetes verbs whose requests are upgrades with a protocol fallback. */
const STREAMING_VERBS = new Set(["exec", "attach", "portforward"]);
/** The upgrades kubectl falls back between, with the name receipts give them. */
const UPGRADES: Readonly<Record<string, string>> = { "websocket": "WebSocket", "spdy/3.1": "SPDY" };
/** Entries kept at most: a flood of held upgrades must not grow memory without bound. */
const MAX_ENTRIES = 1024;

/** What one upgrade attempt is, apart from its upgrade protocol. */
export interface FallbackKey {
  /** sha256 (hex) of the attempt's facts with the upgrade-specific parts left out. */
  key: string;
  /** The attempt's upgrade protocol, lowercase (`websocket`, `spdy/3.1`). */
  upgrade: string;
}

/**
 * The fallback key of `action` held by `rule` with `chain`, or null when the action is not an
 * upgrade that has a fallback (only Kubernetes exec, attach and port-forward do).
 *
 * The key covers protocol, endpoint, agent (name and profile), rule, chain, the target (scheme,
 * host, port, path, query: pod, namespace, container, argv, stdin/stdout/stderr/tty flags),
 * the body and every `k8s` fact. It leaves out only what differs between WebSocket and SPDY for
 * the same command: the method (GET vs POST) and the headers (`Upgrade`, `Sec-WebSocket-*`,
 * `X-Stream-Protocol-Version`).
 *
 * @example
 * ```ts
 * const key = fallbackKey(action, "k8s-exec", ["human_approver.ops"]);
 * key?.upgrade; // "websocket"
 * ```
 */
export function fallbackKey(
  action: Action,
  rule: string,
  chain: readonly string[],
): FallbackKey | null {
  const { http, k8s } = action.facts;
  if (action.protocol !== "kubernetes" || !http || !k8s || !STREAMING_VERBS.has(k8s.verb)) {
    return null;
  }
  const upgrades = http.headers["upgrade"] ?? [];
  const upgrade = upgrades.length === 1 ? upgrades[0].trim().toLowerCase() : "";
  if (!(upgrade in UPGRADES)) return null;
  const what = {
    protocol: action.protocol,
    endpoint: action.endpoint,
    agent: [action.agent.name, action.agent.profile],
    rule,
    chain,
    target: [http.scheme, http.host, String(http.port), http.path, http.query],
    body: [http.body, http.body_truncated],
    k8s,
  };
  return { key: createHash("sha256").update(canonicalJson(what)).digest("hex"), upgrade };
}

/** A decision as it stood for the first attempt. */
export interface ReusedDecision {
  decision: Decision;
  reason: string;
  stages: ApprovalStage[];
  /** The approval request the decision was made on. */
  requestId: string;
  /** How receipts say it was reused: `reused for the SPDY fallback of the same command`. */
  note: string;
}

/** Handle on a remembered allow: say whether the approved attempt ran. */
export interface ReuseTicket {
  /** The approved attempt ended without running (no 101): its fallback may now reuse it. */
  arm(): void;
  /** The approved attempt ran (or must not be reused): forget it. */
  revoke(): void;
}

/** Options for {@linkcode ApprovalReuse}. */
export interface ApprovalReuseOptions {
  /** How long a decision stays reusable. @default {REUSE_WINDOW_MS} */
  windowMs?: number;
  /** Monotonic clock in milliseconds. @default {performance.now} */
  now?: () => number;
}

interface Entry {
  upgrade: string;
  decision: Decision;
  reason: string;
  stages: ApprovalStage[];
  requestId: string;
  at: number;
  /** An allow is usable only once its attempt ended without an upgrade; a deny at once. */
  armed: boolean;
}

/**
 * Decisions of upgrade attempts, each reusable once by the fallback of the same command.
 *
 * @example
 * ```ts
 * const reuse = new ApprovalReuse();
 * const ticket = reuse.remember(key, { decision: "allow", reason: "approved", stages, requestId });
 * ticket.arm(); // the WebSocket upgrade was refused upstream: the command did not run
 * reuse.take({ ...key, upgrade: "spdy/3.1" }); // the decision, once
 * ```
 */
export class ApprovalReuse {
  readonly #entries = new Map<string, Entry>();
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor(options: ApprovalReuseOptions = {}) {
    this.#windowMs = options.windowMs ?? REUSE_WINDOW_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /**
   * Remembers the chain's decision for the attempt `key`, replacing any earlier one. A deny is
   * reusable at once; an allow only after {@linkcode ReuseTicket.arm}.
   */
  remember(
    key: FallbackKey,
    decided: { decision: Decision; reason: string; stages: ApprovalStage[]; requestId: string },
  ): ReuseTicket {
    this.#prune();
    const entry: Entry = {
      upgrade: key.upgrade,
      ...decided,
      stages: decided.stages.map((s) => ({ ...s })),
      at: this.#now(),
      armed: decided.decision === "deny",
    };
    this.#entries.delete(key.key);
    this.#entries.set(key.key, entry);
    while (this.#entries.size > MAX_ENTRIES) {
      this.#entries.delete(this.#entries.keys().next().value!);
    }
    return {
      arm: () => {
        if (this.#entries.get(key.key) === entry) entry.armed = true;
      },
      revoke: () => {
        if (this.#entries.get(key.key) === entry) this.#entries.delete(key.key);
      },
    };
  }

  /**
   * The decision the fallback attempt `key` may reuse, removed so it serves once; null when
   * there is none: no decision for the same command, the same upgrade protocol again (a retry,
   * not a fallback), the window passed, or an allow whose attempt has not ended or did run.
   */
  take(key: FallbackKey): ReusedDecision | null {
    this.#prune();
    const entry = this.#entries.get(key.key);
    if (!entry || !entry.armed || entry.upgrade === key.upgrade) return null;
    this.#entries.delete(key.key);
    return {
      decision: entry.decision,
      reason: entry.reason,
      stages: entry.stages.map((s) => ({ ...s })),
      requestId: entry.requestId,
      note: `reused for the ${UPGRADES[key.upgrade]} fallback of the same command`,
    };
  }

  /** Decisions remembered now (for tests and metrics). */
  get size(): number {
    this.#prune();
    return this.#entries.size;
  }

  #prune(): void {
    const now = this.#now();
    for (const [key, entry] of this.#entries) {
      if (now - entry.at > this.#windowMs) this.#entries.delete(key);
    }
  }
}
