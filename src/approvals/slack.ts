/**
 * Slack for `human_approver` stages: a queue subscriber that posts each held request to the
 * approver's `slack_channel` as a Block Kit message with Approve/Deny buttons, updates it as votes
 * and the outcome arrive, and turns clicks (over Socket Mode, or the HTTP interactivity endpoint)
 * into decisions as `slack:<user id>`: on the queue, or with a shared store through the store, so
 * a click on any gateway decides a request held on another.
 *
 * Vault slots of a `slack_tokens` credential (`clawpatrol vault set NAME --slot S`):
 * - `bot`: the bot token (`xoxb-…`, scope `chat:write`), to post and update messages. The
 *   default slot `value` is read when `bot` is empty.
 * - `app`: an app-level token (`xapp-…`, scope `connections:write`) to receive clicks over
 *   Socket Mode; no public URL needed.
 * - `signing`: the app's signing secret, to verify clicks posted to `POST /slack/interactivity`
 *   on the admin listener (the app's Interactivity Request URL).
 *
 * Slack is a convenience, never the authority: a Slack failure is logged and the request keeps
 * waiting for the CLI queue or its timeout. A click counts only when it is authenticated (Socket
 * Mode connection or signature), names a request still waiting on an approver of that Slack app,
 * carries that request's fingerprint, and comes from a user the queue accepts (`approvers`).
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import type { DecideResult, PendingApproval, QueueEvent } from "./queue.ts";
import { blockActionClicks, type SlackClick } from "./_slack_actions.ts";
import { approvalMessage, type MessageStatus } from "./_slack_blocks.ts";
import { SLACK_INTERACTIVITY_PATH, SlackInteractivity } from "./_slack_interactivity.ts";
import { type SlackRoute, slackRoutes } from "./_slack_routes.ts";
import { SlackClients } from "./_slack_clients.ts";
import { slackSdk } from "./_slack_sdk.ts";
import { describeSlackError, type SlackLog, SlackSocket } from "./_slack_socket.ts";

export { APPROVE_ACTION, buttonValue, DENY_ACTION } from "./_slack_actions.ts";
export { MAX_INTERACTION_BYTES, SLACK_INTERACTIVITY_PATH } from "./_slack_interactivity.ts";
export { type SlackRoute, slackRoutes } from "./_slack_routes.ts";
export {
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  slackSignature,
} from "./_slack_signature.ts";
import { StageEnded } from "./chain.ts";

/** Options for {@linkcode SlackNotifier}. */
export interface SlackNotifierOptions {
  /** A vault value (`null`: not set). Never logged. */
  secret(name: string, slot?: string): Promise<string | null>;
  log: SlackLog;
  /** Web API base URL, ending in `/`. @default {"https://slack.com/api/"} */
  slackApiUrl?: string;
  /** Connect Socket Mode for credentials with an `app` token. @default {true} */
  socketMode?: boolean;
  /** First Socket Mode reconnect delay. @default {1000} */
  reconnectDelayMs?: number;
  /** Clock for the signature replay window. @default {Date.now} */
  now?: () => number;
}

/**
 * Where held requests come from and clicks go: the gateway's `ApprovalQueue`, or with a shared
 * store its `SharedApprovals` (`get` then also finds requests held on other gateways, `decide`
 * takes the decision in the store and rejects when the store cannot be reached).
 */
export interface SlackApprovals {
  /** This gateway's queue events: only requests held here are posted. */
  subscribe(listener: (event: QueueEvent) => void): () => void;
  get(id: string): PendingApproval | undefined;
  decide(
    id: string,
    decision: "allow" | "deny",
    who: string,
    reason: string,
  ): DecideResult | Promise<DecideResult>;
}

/** How long {@linkcode SlackNotifier.stop} waits for Slack calls in flight. */
const STOP_WAIT_MS = 5_000;

/** A posted message, per approval id, while its request waits. */
interface Posted {
  route: SlackRoute;
  channel?: string;
  ts?: string;
  /** Slack calls for this message, in order (an update never overtakes the post). */
  work: Promise<void>;
}

/**
 * Posts held requests to Slack and feeds clicks back into the queue. One per gateway: it
 * subscribes at construction, {@linkcode configure} on start and every reload, {@linkcode stop}
 * at shutdown.
 *
 * @example
 * ```ts
 * const slack = new SlackNotifier(queue, { secret, log });
 * await slack.configure(config);
 * // admin listener: if (path === SLACK_INTERACTIVITY_PATH) return slack.handleInteractivity(req);
 * await slack.stop();
 * ```
 */
export class SlackNotifier {
  readonly #queue: SlackApprovals;
  readonly #options: SlackNotifierOptions;
  readonly #unsubscribe: () => void;
  #routes = new Map<string, SlackRoute>();
  readonly #posted = new Map<string, Posted>();
  readonly #sockets = new Map<string, { socket: SlackSocket; token: string }>();
  /** Vault tokens and Web API clients, per Slack app. */
  readonly #clients: SlackClients;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #interactivity: SlackInteractivity;
  #stopped = false;

  constructor(queue: SlackApprovals, options: SlackNotifierOptions) {
    this.#queue = queue;
    this.#options = options;
    this.#clients = new SlackClients(options);
    this.#unsubscribe = queue.subscribe((event) => this.#onQueue(event));
    this.#interactivity = new SlackInteractivity({
      signingSecrets: () => this.#signingSecrets(),
      onPayload: (payload, credential) =>
        this.#onPayload(payload, credential, "interactivity endpoint"),
      log: options.log,
      now: options.now,
    });
  }

  /**
   * Takes the Slack routes of `config` and (re)connects Socket Mode for their credentials: a
   * credential no longer used is disconnected, one whose app token changed reconnects.
   */
  async configure(config: Config): Promise<void> {
    const { routes, warnings } = slackRoutes(config);
    for (const warning of warnings) this.#options.log("warn", `Slack: ${warning}`);
    this.#routes = new Map(routes.map((r) => [r.approver, r]));
    this.#clients.clear();
    if (this.#options.socketMode === false || this.#stopped) return;
    const wanted = new Map<string, string>();
    for (const credential of new Set(routes.map((r) => r.credential))) {
      const token = await this.#clients.token(credential, "app");
      if (token) wanted.set(credential, token);
      else {
        this.#options.log(
          "info",
          `Slack: credential '${credential}' has no app token (slot 'app'): ` +
            `clicks arrive only through ${SLACK_INTERACTIVITY_PATH}`,
        );
      }
    }
    for (const [credential, running] of [...this.#sockets]) {
      if (wanted.get(credential) === running.token) continue;
      this.#sockets.delete(credential);
      await running.socket.stop();
    }
    for (const [credential, token] of wanted) {
      if (this.#sockets.has(credential)) continue;
      const socket = new SlackSocket(await slackSdk(), credential, token, {
        slackApiUrl: this.#options.slackApiUrl,
        log: this.#options.log,
        reconnectDelayMs: this.#options.reconnectDelayMs,
        onInteractive: (payload) => this.#onPayload(payload, credential, "socket mode"),
      });
      this.#sockets.set(credential, { socket, token });
      socket.start();
    }
  }

  /** Whether Socket Mode is connected for `credential`. */
  socketConnected(credential: string): boolean {
    return this.#sockets.get(credential)?.socket.connected ?? false;
  }

  /** Resolves once every Slack call started so far has finished. */
  async settled(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /**
   * Unsubscribes, disconnects Socket Mode and waits (up to 5 s: Slack may be slow to answer)
   * for Slack calls in flight.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe();
    const sockets = [...this.#sockets.values()];
    this.#sockets.clear();
    await Promise.all(sockets.map((s) => s.socket.stop()));
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      this.settled(),
      new Promise((resolve) => timer = setTimeout(resolve, STOP_WAIT_MS)),
    ]);
    clearTimeout(timer);
  }

  /**
   * The admin listener's `POST /slack/interactivity` handler. Mount it without the admin token:
   * Slack's signature with the app's signing secret is the authentication. Answers 401 for a
   * missing, stale, replayed or wrong signature, and 200 (empty) for anything Slack signed.
   */
  handleInteractivity = (req: Request): Promise<Response> => this.#interactivity.handle(req);

  #onQueue(event: QueueEvent): void {
    const { pending } = event;
    const id = pending.request.id;
    if (event.kind === "held") {
      const route = this.#routes.get(pending.approver);
      if (!route || this.#stopped) return;
      const posted: Posted = { route, work: Promise.resolve() };
      this.#posted.set(id, posted);
      this.#enqueue(posted, () => this.#post(posted, pending));
      return;
    }
    const posted = this.#posted.get(id);
    if (!posted) return;
    if (event.kind !== "vote") this.#posted.delete(id);
    const status = statusOf(event, posted.route);
    this.#enqueue(posted, () => this.#update(posted, pending, status));
  }

  #enqueue(posted: Posted, task: () => Promise<void>): void {
    const work = posted.work.then(task).catch((err) => {
      this.#options.log("error", "Slack: message work failed", { error: describeSlackError(err) });
    });
    posted.work = work;
    this.#inFlight.add(work);
    work.finally(() => this.#inFlight.delete(work));
  }

  async #post(posted: Posted, pending: PendingApproval): Promise<void> {
    const { route } = posted;
    const id = pending.request.id;
    const web = await this.#clients.web(route.credential);
    if (!web) return;
    const message = approvalMessage(pending, { kind: "waiting" }, route);
    try {
      const res = await web.chat.postMessage({
        channel: route.channel,
        ...message,
        unfurl_links: false,
        unfurl_media: false,
      });
      posted.channel = typeof res.channel === "string" ? res.channel : route.channel;
      posted.ts = typeof res.ts === "string" ? res.ts : undefined;
      this.#options.log("info", `Slack: posted approval ${id} to ${route.channel}`);
    } catch (err) {
      this.#options.log("warn", `Slack: could not post approval ${id} to ${route.channel}`, {
        error: describeSlackError(err),
        fix: "the request still waits for 'clawpatrol approvals' or its timeout",
      });
    }
  }

  async #update(posted: Posted, pending: PendingApproval, status: MessageStatus): Promise<void> {
    if (!posted.channel || !posted.ts) return; // never posted: nothing to update
    const id = pending.request.id;
    const web = await this.#clients.web(posted.route.credential);
    if (!web) return;
    try {
      await web.chat.update({
        channel: posted.channel,
        ts: posted.ts,
        ...approvalMessage(pending, status, posted.route),
      });
    } catch (err) {
      this.#options.log("warn", `Slack: could not update the message of approval ${id}`, {
        error: describeSlackError(err),
      });
    }
  }

  /** Applies the clicks of one authenticated interaction from Slack app `credential`. */
  #onPayload(payload: unknown, credential: string, via: string): void {
    for (const click of blockActionClicks(payload)) {
      const work = this.#onClick(click, credential, via).catch((err) => {
        // A store that cannot take the decision: nothing was decided anywhere.
        this.#options.log("warn", `Slack: could not record the click on approval ${click.id}`, {
          error: err instanceof Error ? err.message : String(err),
        });
        this.#tell(credential, click, "Your click could not be recorded right now: try again.");
      });
      this.#inFlight.add(work);
      work.finally(() => this.#inFlight.delete(work));
    }
  }

  async #onClick(click: SlackClick, credential: string, via: string): Promise<void> {
    const who = `slack:${click.user}`;
    const fields = { approval: click.id, who, via };
    const pending = this.#queue.get(click.id);
    const route = pending ? this.#routes.get(pending.approver) : undefined;
    const posted = this.#posted.get(click.id);
    let problem: string | null = null;
    if (!pending) problem = "the request is no longer waiting";
    else if (!route || route.credential !== credential) {
      problem =
        `it came through Slack app '${credential}', which does not serve ${pending.approver}`;
    } else if (click.fingerprint !== pending.request.fingerprint) {
      problem = "its fingerprint does not match the waiting request";
    } else if (
      posted?.ts && (click.channel !== posted.channel || click.messageTs !== posted.ts)
    ) {
      problem = "it was not on the message posted for this request";
    }
    if (problem) {
      this.#options.log("warn", `Slack: ignored a click: ${problem}`, fields);
      this.#tell(credential, click, `Your click was not counted: ${problem}.`);
      return;
    }
    // Checked here too: a request held on another gateway is decided in the store, which does
    // not know the stage's Slack approvers (this gateway's config names the same ones).
    const listed = route!.approvers.length === 0 || route!.approvers.includes(click.user);
    const result = listed ? await this.#queue.decide(click.id, click.decision, who, "") : "refused";
    switch (result) {
      case "decided":
      case "recorded":
        this.#options.log(
          "info",
          `approval ${click.id}: ${click.decision} by ${who}${
            result === "recorded" ? " (quorum not reached)" : ""
          }`,
          fields,
        );
        return;
      case "refused": {
        const why = pending!.allowedBy.includes(who)
          ? "you already approved"
          : `you are not on the approver list of ${pending!.approver}`;
        this.#options.log("warn", `Slack: ignored a click by ${who}: ${why}`, fields);
        this.#tell(credential, click, `Your click was not counted: ${why}.`);
        return;
      }
      case "unknown":
        this.#options.log(
          "info",
          "Slack: ignored a click: the request is no longer waiting",
          fields,
        );
        return;
    }
  }

  /** An ephemeral note to whoever clicked (best effort). */
  #tell(credential: string, click: SlackClick, text: string): void {
    if (!click.channel) return;
    const work = (async () => {
      const web = await this.#clients.web(credential);
      await web?.chat.postEphemeral({ channel: click.channel!, user: click.user, text });
    })().catch((err) => {
      this.#options.log("debug", "Slack: could not send an ephemeral note", {
        error: describeSlackError(err),
      });
    });
    this.#inFlight.add(work);
    work.finally(() => this.#inFlight.delete(work));
  }

  /** Signing secrets of the Slack apps the routes use. */
  #signingSecrets(): Promise<[string, string][]> {
    return this.#clients.signingSecrets(
      new Set([...this.#routes.values()].map((r) => r.credential)),
    );
  }
}

/** What a queue event means for the message. */
function statusOf(event: QueueEvent, route: SlackRoute): MessageStatus {
  switch (event.kind) {
    case "held":
    case "vote":
      return { kind: "waiting" };
    case "settled":
      return event.decision.decision === "allow"
        ? { kind: "approved", who: event.decision.who, reason: event.decision.reason }
        : { kind: "denied", who: event.decision.who, reason: event.decision.reason };
    case "gone": {
      const why = event.reason instanceof StageEnded ? event.reason.kind : null;
      // Without the chain's reason (another caller), one that lasted its timeout timed out.
      const timedOut = why !== null
        ? why === "timeout"
        : Date.now() - event.pending.since.getTime() + 250 >= route.timeoutMs;
      return timedOut
        ? { kind: "timed_out", afterMs: route.timeoutMs, outcome: route.onTimeout }
        : { kind: "cancelled" };
    }
  }
}
