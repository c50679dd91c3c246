/**
 * The operator dashboard on the admin listener: pages at `/` and `/ui/…`, JSON and the live
 * feed under `/ui/api/…`. Every page but sign-in needs a session (else the sign-in page); every
 * API call needs one (else 401); every state change also needs the session's CSRF token.
 *
 * @module
 */

import type { DecideResult, PendingApproval, QueueEvent } from "../approvals/mod.ts";
import type { Mode } from "../core/mod.ts";
import type { ReceiptFilter, RolloutReport, RolloutReportOptions } from "../audit/mod.ts";
import type { ReceiptFeed, ReceiptQuery } from "./_feed.ts";
import { jsonResponse, securityHeaders } from "./_respond.ts";
import { type ChainResult, ChainStatus } from "./_chain_status.ts";
import { type Session, Sessions, type SessionsOptions } from "./_sessions.ts";
import { readForm, sessionCookie, signIn, signinPage, signOut } from "./_signin.ts";
import { OpenStreams } from "./_sse.ts";
import { staticFile } from "./_static.ts";
import { apiRoute, pageRoute, refuseWithoutCsrf, type RouteContext } from "./_routes.ts";

/** Where `clawpatrol dashboard` asks for a one-time code, with the admin token. */
export const CODES_PATH = "/ui/api/codes";

/**
 * The approvals as the dashboard uses them: the gateway's `ApprovalQueue`, or with a shared
 * store its `SharedApprovals` (every gateway's requests, decided in the store).
 */
export interface DashboardApprovals {
  list(): PendingApproval[];
  /** Rejects when a shared store cannot take the decision (nothing was decided). */
  decide(
    id: string,
    decision: "allow" | "deny",
    who: string,
    reason: string,
  ): DecideResult | Promise<DecideResult>;
  subscribe(listener: (event: QueueEvent) => void): () => void;
  /** How a request no longer waiting ended ("allowed by cli:alice"), when a store knows. */
  decidedBy?(id: string): Promise<string | null>;
}

/** An enrolled agent as the Agents page lists it. */
export interface DashboardAgent {
  name: string;
  profile: string;
  createdAt: string;
  revokedAt: string | null;
}

/** The enrolled agents as the Agents page reads and changes them. */
export interface DashboardAgents {
  list(): DashboardAgent[];
  revoke(name: string): void;
  /**
   * Enrols `name` with `profile` where the gateway's agents live and returns its token, usable at
   * once. Throws `TypeError`/`RangeError` for an invalid name or unknown profile, `Error` for a
   * taken name; nothing is enrolled then. Without it the page has no add form.
   */
  add?(name: string, profile: string): Promise<string>;
  /** The config's profiles, offered by the add form. */
  profiles?(): string[];
}

/** A rule of the config in force, as the Rules page and generated rules need it. */
export interface DashboardRule {
  name: string;
  endpoints: string[];
  priority: number;
  /** Its own mode (`null`: the gateway's). */
  mode: Mode | null;
  /** `allow`, `deny`, or the approvers it holds for. */
  outcome: string;
  /** Where it is written, relative to the config's directory, and on which line. */
  file: string;
  line: number;
}

/** A write into the config done (and reloaded), or every reason it was refused. */
export type DashboardWriteResult =
  | { ok: true; file: string; reloaded: boolean }
  | { ok: false; problems: string[] };

/**
 * The config's rules, and validated writes into its files. Each write is refused unless
 * `gateway.dashboard_config_writes` is on and the whole config stays valid with it.
 */
export interface DashboardConfig {
  rules(): DashboardRule[];
  /** Whether writes are on. */
  writesEnabled(): boolean;
  /** Where appended rules go, relative to the config's directory. */
  rulesFile(): Promise<string>;
  /** Every problem the config would have with `ruleText` appended (empty: valid). */
  checkRule(ruleText: string): Promise<string[]>;
  appendRule(ruleText: string): Promise<DashboardWriteResult>;
  promoteRule(name: string): Promise<DashboardWriteResult>;
}

/** What the dashboard reads from, and acts on in, the running gateway. */
export interface DashboardOptions extends Pick<SessionsOptions, "tokenMatches" | "sessionTtlMs"> {
  approvals: DashboardApprovals;
  /** Committed receipts. */
  receipts: ReceiptQuery;
  /** New receipts as they commit. */
  feed: ReceiptFeed;
  /** `gateway.mode` in force (for fixtures' expected verdicts). */
  gatewayMode(): Mode;
  /** The mode a rule of the config in force sets for itself (`undefined`: none, or no rule). */
  ruleMode?(rule: string): Mode | undefined;
  /** How long a stage of `approver` (`human_approver.ops`) waits before it times out. */
  stageTimeoutMs(approver: string): number;
  /** The config's rules and writes into it; without it there is no Rules page or blocking. */
  config?: DashboardConfig;
  /**
   * `clawpatrol report`'s figures over the receipts `filter` selects, for the Rules page, off the
   * gateway's thread; without it they are computed in-thread from `receipts`.
   */
  rulesReport?: (filter: ReceiptFilter, options: RolloutReportOptions) => Promise<RolloutReport>;
  /** `clawpatrol log verify` on the receipts, for the Health page. */
  verifyChain?: () => Promise<ChainResult>;
  /** Enrolled agents and revocation; the Agents page is empty without it. */
  agents?: DashboardAgents;
  /** What the Health page shows: named readings (receipt queue, upstream errors…). */
  health?: () => Record<string, unknown>;
  log?: (level: "info" | "warn", message: string, fields?: Record<string, unknown>) => void;
}

/** The dashboard's request handler and its lifecycle. */
export class Dashboard {
  readonly #sessions: Sessions;
  readonly #options: DashboardOptions;
  readonly #streams = new OpenStreams();
  readonly #chain: ChainStatus | undefined;

  constructor(options: DashboardOptions) {
    this.#options = options;
    this.#sessions = new Sessions(options);
    this.#chain = options.verifyChain ? new ChainStatus(options.verifyChain) : undefined;
  }

  /** Whether `path` is the dashboard's (the admin server routes these here). */
  static owns(path: string): boolean {
    return path === "/" || path === "/ui" || path.startsWith("/ui/") || path === "/favicon.ico";
  }

  /** Handles a request for a path {@linkcode Dashboard.owns}. */
  handle = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const path = url.pathname;
    if (path.startsWith("/ui/static/")) return await staticFile(req, path);
    // Browsers ask for it on every page: an empty answer, not a 404 in the console.
    if (path === "/favicon.ico") {
      await req.body?.cancel();
      return new Response(null, { status: 204, headers: securityHeaders() });
    }
    if (path === CODES_PATH) return await this.#codes(req);
    if (path === "/ui/signin") {
      if (req.method === "POST") return await signIn(req, this.#sessions, this.#options.log);
      return signinPage(url.searchParams.get("next") ?? "/");
    }
    const id = sessionCookie(req);
    const session: Session | undefined = this.#sessions.get(id);
    const api = path.startsWith("/ui/api/");
    if (!session) {
      await req.body?.cancel();
      if (api) return jsonResponse({ error: "unauthorized: sign in to the dashboard" }, 401);
      // Pages answer with the sign-in form itself (401), then come back here after it.
      return signinPage(path, undefined, 401);
    }
    if (path === "/ui/signout" && req.method === "POST") {
      const refused = refuseWithoutCsrf(req, session, await readForm(req));
      return refused ?? signOut(this.#sessions, id);
    }
    const context: RouteContext = {
      req,
      url,
      session,
      options: this.#options,
      streams: this.#streams,
      chain: this.#chain,
    };
    return api ? await apiRoute(context) : await pageRoute(context);
  };

  // The admin token, not a session: the CLI on the gateway host reads it from state_dir.
  async #codes(req: Request): Promise<Response> {
    await req.body?.cancel();
    const header = req.headers.get("authorization") ?? "";
    const token = /^Bearer +(\S+) *$/i.exec(header)?.[1];
    if (token === undefined || !this.#options.tokenMatches(token)) {
      return jsonResponse(
        { error: "unauthorized: send 'Authorization: Bearer <admin token>'" },
        401,
      );
    }
    if (req.method !== "POST") {
      return jsonResponse({ error: "method not allowed" }, 405, { allow: "POST" });
    }
    this.#options.log?.("info", "dashboard: issued a one-time sign-in code");
    return jsonResponse({ code: this.#sessions.issueCode(), expires_in_seconds: 300 });
  }

  /** Ends every open live-feed stream (before the admin server stops). */
  close(): void {
    this.#streams.closeAll();
    this.#options.feed.close();
  }
}
