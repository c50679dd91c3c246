/**
 * `webhook_approver`: POSTs each approval request, signed, to `url`. The receiver answers
 * `200 {decision, reason}` at once, or `202 Accepted` and posts a signed
 * `{id, fingerprint, decision, reason}` to `POST /approvals/webhook` on the admin API later.
 *
 * Signature scheme (both directions, same secret: the `webhook_secret` credential's value):
 * `X-Clawpatrol-Timestamp: <unix seconds>` and
 * `X-Clawpatrol-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. Callbacks
 * more than 5 minutes from the gateway's clock, with a bad MAC, for an id not waiting, for a
 * different fingerprint, or seen before are refused.
 *
 * @module
 */

import type { ApprovalRequest, Approver, StageDecision } from "../core/mod.ts";
import type { Approver as ApproverConfig } from "../config/mod.ts";
import { type ApproverDeps, registerApprover } from "./approvals.ts";
import { decisionOf, WebhookCallbacks } from "./_webhook_callbacks.ts";
import {
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  webhookKey,
} from "./_webhook_signature.ts";

export { MAX_CALLBACK_BYTES, WebhookCallbacks } from "./_webhook_callbacks.ts";
export {
  REPLAY_WINDOW_SECONDS,
  SIGNATURE_HEADER,
  signWebhook,
  TIMESTAMP_HEADER,
  webhookKey,
} from "./_webhook_signature.ts";
import { readLimited } from "../core/mod.ts";

/** Where receivers post late decisions, on the admin API. */
export const WEBHOOK_CALLBACK_PATH = "/approvals/webhook";
/** Largest synchronous reply read from a receiver. */
export const MAX_REPLY_BYTES = 64 * 1024;

/** The process's callback registry: what {@linkcode handleWebhookCallback} serves. */
export const webhookCallbacks: WebhookCallbacks = new WebhookCallbacks();

/**
 * The admin API's `POST /approvals/webhook` handler. Mount it without the admin token: the
 * HMAC signature with the approver's `webhook_secret` is the authentication.
 *
 * @example
 * ```ts
 * if (url.pathname === WEBHOOK_CALLBACK_PATH) return handleWebhookCallback(req);
 * ```
 */
export function handleWebhookCallback(req: Request): Promise<Response> {
  return webhookCallbacks.handle(req);
}

/** Options for {@linkcode WebhookApprover}. */
export interface WebhookApproverOptions {
  /** Where late decisions arrive. @default {webhookCallbacks} */
  callbacks?: WebhookCallbacks;
  /** Clock for the signing timestamp. @default {Date.now} */
  now?: () => number;
}

/** How one webhook POST is signed, and what aborts it. */
interface PostOptions {
  /** Unix seconds the signature covers. */
  timestamp: number;
  signature: string;
  signal: AbortSignal;
}

/**
 * A webhook stage. Fails (so the chain denies) when the secret is missing, the receiver is
 * unreachable, or it answers anything but `200 {decision: "allow"|"deny", reason}` or `202`.
 *
 * @example
 * ```ts
 * const hook = new WebhookApprover(config, deps);
 * const answer = await hook.decide(request, signal); // { decision, who: "webhook:hook", reason }
 * ```
 */
export class WebhookApprover implements Approver {
  readonly ref: string;
  readonly kind = "webhook_approver" as const;
  readonly timeoutMs: number | null;
  readonly #who: string;
  readonly #url: string;
  /** The credential's name in the vault; `null` when the block names none. */
  readonly #secretName: string | null;
  readonly #deps: ApproverDeps;
  readonly #callbacks: WebhookCallbacks;
  readonly #now: () => number;

  constructor(config: ApproverConfig, deps: ApproverDeps, options: WebhookApproverOptions = {}) {
    this.ref = `${config.kind}.${config.name}`;
    this.timeoutMs = config.timeoutMs;
    this.#who = `webhook:${config.name}`;
    this.#url = String(config.settings.url ?? "");
    const credential = config.settings.credential;
    // Settings hold the reference as `kind.name`; the vault stores values by name.
    this.#secretName = typeof credential === "string"
      ? credential.slice(credential.indexOf(".") + 1)
      : null;
    this.#deps = deps;
    this.#callbacks = options.callbacks ?? webhookCallbacks;
    this.#now = options.now ?? Date.now;
    if (this.#secretName === null) {
      deps.log("warn", `approver '${this.ref}' has no credential: its stages deny`, {
        fix: "set credential = webhook_secret.NAME",
      });
    }
  }

  async decide(request: ApprovalRequest, signal: AbortSignal): Promise<StageDecision> {
    signal.throwIfAborted();
    const key = await this.#key();
    const body = JSON.stringify(webhookPayload(request, this.#who.slice("webhook:".length)), json);
    const timestamp = Math.floor(this.#now() / 1000);
    const signature = await signWebhook(key, timestamp, body);
    signal.throwIfAborted();
    // Registered before the POST: a receiver may call back before it replies.
    const wait = this.#callbacks.open(request.id, {
      approver: this.ref,
      who: this.#who,
      fingerprint: request.fingerprint,
      key,
      log: this.#deps.log,
    });
    const post = new AbortController();
    const cancel = () => wait.fail(new Error("cancelled"));
    signal.addEventListener("abort", cancel, { once: true });
    this.#post(request.id, body, { timestamp, signature, signal: post.signal }).then(
      (reply) => {
        if (reply !== "later") wait.settle({ ...reply, who: this.#who });
      },
      (err) => wait.fail(err),
    );
    try {
      return await wait.answer;
    } finally {
      signal.removeEventListener("abort", cancel);
      post.abort();
      wait.close();
    }
  }

  async #key(): Promise<CryptoKey> {
    const name = this.#secretName;
    if (name === null) throw new Error(`approver '${this.ref}' has no credential`);
    let secret: string | null;
    try {
      secret = await this.#deps.secret(name);
    } catch (err) {
      this.#deps.log("error", `vault: cannot read credential '${name}'`, {
        approver: this.ref,
        error: (err as Error).message,
      });
      throw new Error(`credential '${name}' cannot be read from the vault`);
    }
    if (secret === null || secret === "") {
      this.#deps.log("warn", `credential '${name}' has no value in the vault`, {
        approver: this.ref,
        fix: `clawpatrol vault set ${name}`,
      });
      throw new Error(`credential '${name}' has no value in the vault`);
    }
    return await webhookKey(secret);
  }

  /** One signed POST; the receiver's decision, or `later` for a 202. */
  async #post(
    id: string,
    body: string,
    { timestamp, signature, signal }: PostOptions,
  ): Promise<{ decision: "allow" | "deny"; reason: string } | "later"> {
    const fields = { approver: this.ref, approval: id, url: loggable(this.#url) };
    let res: Response;
    try {
      res = await this.#deps.fetch(this.#url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signature,
        },
        body,
        signal,
        // A redirect would resend a signed approval request somewhere the config never named.
        redirect: "manual",
      });
    } catch (err) {
      if (signal.aborted) throw err;
      this.#deps.log("warn", "webhook unreachable", { ...fields, error: (err as Error).message });
      throw new Error("webhook unreachable");
    }
    if (res.status === 202) {
      await res.body?.cancel();
      this.#deps.log("info", "webhook accepted the request; waiting for its callback", fields);
      return "later";
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      this.#deps.log("warn", `webhook answered HTTP ${res.status}`, fields);
      throw new Error(`webhook answered HTTP ${res.status}`);
    }
    const raw = await readLimited(res.body, MAX_REPLY_BYTES);
    if (raw === null) throw new Error(`webhook reply is larger than ${MAX_REPLY_BYTES} bytes`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(raw));
    } catch {
      this.#deps.log("warn", "webhook reply is not JSON", fields);
      throw new Error("webhook reply is not JSON");
    }
    const decided = decisionOf(parsed);
    if (typeof decided === "string") {
      this.#deps.log("warn", `webhook reply refused: ${decided}`, fields);
      throw new Error(`webhook reply refused: ${decided}`);
    }
    return decided;
  }
}

/** The JSON body a receiver gets (facts are already redacted). */
export function webhookPayload(request: ApprovalRequest, approver: string): object {
  return {
    id: request.id,
    fingerprint: request.fingerprint,
    protocol: request.protocol,
    endpoint: request.endpoint,
    agent: request.agent,
    rule: request.rule,
    reason: request.reason,
    summary: request.summary,
    facts: request.facts,
    created_at: request.createdAt.toISOString(),
    approver,
    callback: {
      method: "POST",
      path: WEBHOOK_CALLBACK_PATH,
      body:
        '{"id", "fingerprint", "decision": "allow" | "deny", "reason"}, signed like this request',
      hint: `POST the decision to ${WEBHOOK_CALLBACK_PATH} on the gateway's admin API`,
    },
  };
}

/** Facts hold CEL integers as bigint, which JSON cannot. */
function json(_key: string, value: unknown): unknown {
  if (typeof value !== "bigint") return value;
  return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER)
    ? Number(value)
    : value.toString();
}

/** The URL without credentials or query (either may carry a token). */
function loggable(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return "(invalid url)";
  }
}

registerApprover("webhook_approver", (config, deps) => new WebhookApprover(config, deps));
