/**
 * Button clicks as Slack delivers them: a `block_actions` interaction payload
 * (https://api.slack.com/reference/interaction-payloads/block-actions), over Socket Mode (an
 * `interactive` envelope's `payload`) or the HTTP interactivity endpoint (form field `payload`).
 * Pure: no I/O.
 *
 * @module
 */

/** `action_id` of the Approve button. */
export const APPROVE_ACTION = "clawpatrol_approve";
/** `action_id` of the Deny button. */
export const DENY_ACTION = "clawpatrol_deny";

/** What a button's `value` binds a click to: one request, as it was when posted. */
export interface ButtonTarget {
  /** Approval request id (`apr_…`). */
  id: string;
  /** The request's fingerprint (64 hex digits). */
  fingerprint: string;
}

/**
 * The `value` of both buttons: the approval id and the fingerprint of what was shown, so a
 * click decides only that exact request.
 *
 * @example
 * ```ts
 * buttonValue({ id: "apr_1", fingerprint: "ab…" }); // "apr_1:ab…"
 * ```
 */
export function buttonValue(target: ButtonTarget): string {
  return `${target.id}:${target.fingerprint}`;
}

/**
 * Reads a button value written by {@linkcode buttonValue}; `null` for anything else.
 *
 * @example
 * ```ts
 * parseButtonValue("apr_1:" + "a".repeat(64)); // { id: "apr_1", fingerprint: "aaa…" }
 * ```
 */
export function parseButtonValue(value: unknown): ButtonTarget | null {
  if (typeof value !== "string") return null;
  const match = /^(apr_[A-Za-z0-9]{1,64}):([0-9a-f]{64})$/.exec(value);
  return match ? { id: match[1], fingerprint: match[2] } : null;
}

/** One click on one of our buttons. */
export interface SlackClick extends ButtonTarget {
  decision: "allow" | "deny";
  /** Slack user id of whoever clicked (Slack vouches for it: the payload is authenticated). */
  user: string;
  /** Channel id and message ts of the message clicked, when Slack says. */
  channel: string | null;
  messageTs: string | null;
}

/**
 * The clicks on our buttons in a `block_actions` payload. Other payload types, other apps'
 * actions and malformed values yield nothing; a payload without a user id yields nothing.
 *
 * @example
 * ```ts
 * for (const click of blockActionClicks(payload)) queue.decide(click.id, click.decision, `slack:${click.user}`);
 * ```
 */
export function blockActionClicks(payload: unknown): SlackClick[] {
  if (!isObject(payload) || payload.type !== "block_actions") return [];
  const user = isObject(payload.user) ? payload.user.id : undefined;
  if (typeof user !== "string" || !/^[A-Z0-9]{1,32}$/.test(user)) return [];
  const container = isObject(payload.container) ? payload.container : {};
  const channel = isObject(payload.channel) && typeof payload.channel.id === "string"
    ? payload.channel.id
    : typeof container.channel_id === "string"
    ? container.channel_id
    : null;
  const messageTs = typeof container.message_ts === "string"
    ? container.message_ts
    : isObject(payload.message) && typeof payload.message.ts === "string"
    ? payload.message.ts
    : null;
  const clicks: SlackClick[] = [];
  for (const action of Array.isArray(payload.actions) ? payload.actions : []) {
    if (!isObject(action)) continue;
    const decision = action.action_id === APPROVE_ACTION
      ? "allow"
      : action.action_id === DENY_ACTION
      ? "deny"
      : null;
    const target = parseButtonValue(action.value);
    if (decision && target) clicks.push({ ...target, decision, user, channel, messageTs });
  }
  return clicks;
}

/**
 * The interaction payload of an HTTP interactivity request: the JSON in form field `payload` of
 * an `application/x-www-form-urlencoded` body. Throws `SyntaxError` when there is none.
 *
 * @example
 * ```ts
 * interactivityPayload("payload=%7B%22type%22%3A%22block_actions%22%7D"); // { type: "block_actions" }
 * ```
 */
export function interactivityPayload(body: string): unknown {
  const field = new URLSearchParams(body).get("payload");
  if (field === null) throw new SyntaxError("Cannot read Slack interaction: no 'payload' field");
  return JSON.parse(field);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
