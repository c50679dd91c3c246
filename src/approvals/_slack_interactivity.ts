/**
 * The HTTP interactivity endpoint (`POST /slack/interactivity` on the admin listener): Slack
 * posts clicks there, form-encoded (`payload=<json>`), signed with the app's signing secret.
 * https://api.slack.com/interactivity/handling#payloads
 *
 * @module
 */

import type { SlackLog } from "./_slack_socket.ts";
import { interactivityPayload } from "./_slack_actions.ts";
import {
  SLACK_REPLAY_WINDOW_SECONDS,
  slackSignedHeaders,
  verifySlackSignature,
} from "./_slack_signature.ts";
import { readLimited } from "../core/mod.ts";

/** Where Slack posts clicks when the app uses an HTTP Request URL (on the admin listener). */
export const SLACK_INTERACTIVITY_PATH = "/slack/interactivity";
/** Largest interaction body read (a payload carries the whole message clicked). */
export const MAX_INTERACTION_BYTES = 1024 * 1024;

/** Options for {@linkcode SlackInteractivity}. */
export interface SlackInteractivityOptions {
  /** The configured Slack apps' signing secrets, by credential; read per request. */
  signingSecrets(): Promise<[credential: string, secret: string][]>;
  /** An authenticated payload, and the credential whose secret signed it. */
  onPayload(payload: unknown, credential: string): void;
  log: SlackLog;
  /** @default {Date.now} */
  now?: () => number;
}

/** Verifies and dispatches interaction requests. */
export class SlackInteractivity {
  readonly #options: SlackInteractivityOptions;
  /** Signatures accepted within the replay window: the same request is not taken twice. */
  readonly #seen = new Map<string, number>();

  constructor(options: SlackInteractivityOptions) {
    this.#options = options;
  }

  /**
   * Answers 401 for a missing, stale, replayed or wrong signature, 400 for a signed body
   * without a payload, and 200 (empty body, as Slack expects) otherwise.
   */
  async handle(req: Request): Promise<Response> {
    const { log } = this.#options;
    if (req.method !== "POST") {
      await req.body?.cancel().catch(() => {});
      return new Response("method not allowed\n", { status: 405, headers: { allow: "POST" } });
    }
    const now = (this.#options.now ?? Date.now)();
    const signed = slackSignedHeaders(req.headers, now);
    if (typeof signed === "string") {
      await req.body?.cancel().catch(() => {});
      log("warn", `Slack: refused an interaction: signature ${signed}`);
      return unauthorized();
    }
    const body = await readLimited(req.body, MAX_INTERACTION_BYTES);
    if (body === null) return new Response("payload too large\n", { status: 413 });
    this.#forget(now);
    if (this.#seen.has(signed.signature)) {
      log("warn", "Slack: refused a replayed interaction");
      return unauthorized();
    }
    let credential: string | null = null;
    for (const [name, secret] of await this.#options.signingSecrets()) {
      if (await verifySlackSignature(secret, signed, body)) {
        credential = name;
        break;
      }
    }
    if (credential === null) {
      log("warn", "Slack: refused an interaction: bad signature (or no signing secret set)");
      return unauthorized();
    }
    this.#seen.set(signed.signature, now);
    let payload: unknown;
    try {
      payload = interactivityPayload(new TextDecoder().decode(body));
    } catch (err) {
      log("warn", `Slack: unreadable interaction: ${(err as Error).message}`);
      return new Response("bad request\n", { status: 400 });
    }
    this.#options.onPayload(payload, credential);
    return new Response(null, { status: 200 });
  }

  #forget(now: number): void {
    // Twice the window: a timestamp may be up to one window in the future.
    for (const [signature, at] of this.#seen) {
      if (now - at > 2 * SLACK_REPLAY_WINDOW_SECONDS * 1000) this.#seen.delete(signature);
    }
  }
}

function unauthorized(): Response {
  return new Response("invalid Slack signature\n", { status: 401 });
}
