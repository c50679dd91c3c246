/**
 * The tokens of each `slack_tokens` credential, read from the vault when needed, and one Web API
 * client per bot token. Nothing here is logged but the credential's name and slot: a token
 * never reaches the log.
 *
 * @module
 */

import type { WebClient } from "@slack/web-api";
import { slackSdk } from "./_slack_sdk.ts";
import { type SlackLog, slackLogger } from "./_slack_socket.ts";

/** Options for {@linkcode SlackClients}. */
export interface SlackClientsOptions {
  /** A vault value (`null`: not set). Never logged. */
  secret(name: string, slot?: string): Promise<string | null>;
  log: SlackLog;
  /** Web API base URL, ending in `/`. @default {"https://slack.com/api/"} */
  slackApiUrl?: string;
}

/** Vault tokens and Web API clients of the Slack apps the approvers use. */
export class SlackClients {
  readonly #options: SlackClientsOptions;
  readonly #clients = new Map<string, WebClient>();

  constructor(options: SlackClientsOptions) {
    this.#options = options;
  }

  /** Forgets the clients made so far (a reload may have rotated a token). */
  clear(): void {
    this.#clients.clear();
  }

  /** Signing secrets of `credentials`, for the ones that have one. */
  async signingSecrets(credentials: Iterable<string>): Promise<[string, string][]> {
    const out: [string, string][] = [];
    for (const credential of credentials) {
      const secret = await this.token(credential, "signing");
      if (secret) out.push([credential, secret]);
    }
    return out;
  }

  /** The bot client of `credential`, or null (logged) without a bot token. */
  async web(credential: string): Promise<WebClient | null> {
    const token = await this.token(credential, "bot") ?? await this.token(credential);
    if (!token) {
      this.#options.log(
        "warn",
        `Slack: credential '${credential}' has no bot token: not posting`,
        { fix: `clawpatrol vault set ${credential} --slot bot` },
      );
      return null;
    }
    const key = `${credential}\0${token}`;
    let web = this.#clients.get(key);
    if (!web) {
      const { WebClient } = await slackSdk();
      web = new WebClient(token, {
        slackApiUrl: this.#options.slackApiUrl,
        logger: slackLogger(this.#options.log, `slack web api (${credential})`),
        retryConfig: { retries: 2, factor: 2, minTimeout: 500 },
        timeout: 10_000,
      });
      this.#clients.set(key, web);
    }
    return web;
  }

  /** A trimmed vault value, or null when unset, empty, unreadable or not header-safe. */
  async token(credential: string, slot?: string): Promise<string | null> {
    let value: string | null;
    try {
      value = await this.#options.secret(credential, slot);
    } catch (err) {
      this.#options.log("warn", `Slack: cannot read credential '${credential}'`, {
        slot: slot ?? "value",
        error: (err as Error).message,
      });
      return null;
    }
    const token = value?.trim();
    if (!token) return null;
    if (!/^[\x21-\x7e]+$/.test(token)) {
      this.#options.log(
        "warn",
        `Slack: credential '${credential}' slot '${slot ?? "value"}' is not a usable token`,
      );
      return null;
    }
    return token;
  }
}
