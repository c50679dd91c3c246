/**
 * One Socket Mode connection (https://api.slack.com/apis/socket-mode) per Slack app: the gateway
 * opens a websocket to Slack with the app-level token (`apps.connections.open`), so button clicks
 * arrive without a public URL. Every envelope is acknowledged at once, as Slack requires.
 *
 * The library's own reconnection is off: on a failed reconnect it rejects a promise nobody
 * awaits (which would end the process), and it cannot be cancelled. We reconnect ourselves, with
 * backoff, and stop cleanly.
 *
 * @module
 */

import type { SocketModeClient } from "@slack/socket-mode";
import type { Logger, LogLevel } from "@slack/web-api";
import type { SlackSdk } from "./_slack_sdk.ts";

/** What the connection reports to its owner. */
export type SlackLog = (
  level: "debug" | "info" | "warn" | "error",
  message: string,
  fields?: Record<string, unknown>,
) => void;

/** Options for {@linkcode SlackSocket}. */
export interface SlackSocketOptions {
  /** Web API base URL (`apps.connections.open`). @default {"https://slack.com/api/"} */
  slackApiUrl?: string;
  /** Called with every `interactive` envelope's payload, after it was acknowledged. */
  onInteractive(payload: unknown): void;
  log: SlackLog;
  /** First reconnect delay; doubles per failure up to a minute. @default {1000} */
  reconnectDelayMs?: number;
}

/** Longest wait between reconnect attempts. */
const MAX_RECONNECT_DELAY_MS = 60_000;
/** How long {@linkcode SlackSocket.stop} waits for a connect attempt in flight. */
const STOP_WAIT_MS = 5_000;

/** A Socket Mode connection for one `slack_tokens` credential, reconnecting until stopped. */
export class SlackSocket {
  /** The credential (vault name) whose app token this connection uses. */
  readonly credential: string;
  readonly #client: SocketModeClient;
  readonly #options: SlackSocketOptions;
  #stopped = false;
  #connecting: Promise<void> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #failures = 0;
  #connected = false;

  /** `sdk`: from {@linkcode slackSdk}, loaded by the caller so this stays synchronous. */
  constructor(sdk: SlackSdk, credential: string, appToken: string, options: SlackSocketOptions) {
    this.credential = credential;
    this.#options = options;
    const logger = slackLogger(options.log, `slack socket mode (${credential})`);
    this.#client = new sdk.SocketModeClient({
      appToken,
      logger,
      autoReconnectEnabled: false,
      clientOptions: {
        slackApiUrl: options.slackApiUrl,
        // Our loop retries; the library's would keep timers running past stop().
        retryConfig: { retries: 0 },
        timeout: 10_000,
      },
    });
    this.#client.on("slack_event", (event: SocketEvent) => this.#onEvent(event));
    this.#client.on("disconnected", () => {
      if (this.#connected) {
        this.#connected = false;
        if (!this.#stopped) options.log("warn", `Slack: Socket Mode (${credential}) disconnected`);
      }
      this.#schedule();
    });
  }

  /** Starts connecting (in the background); failures are logged and retried. */
  start(): void {
    if (this.#stopped || this.#connecting || this.#timer) return;
    this.#connecting = this.#connect();
  }

  /** Whether the websocket is up (Slack said hello). */
  get connected(): boolean {
    return this.#connected;
  }

  /** Disconnects and stops reconnecting; leaves no timer or socket behind. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#client.disconnect().catch(() => {});
    if (this.#connecting) {
      let wait: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        this.#connecting,
        new Promise((resolve) => wait = setTimeout(resolve, STOP_WAIT_MS)),
      ]);
      clearTimeout(wait);
    }
    // A connect that finished after the first disconnect opened a socket: close it too.
    await this.#client.disconnect().catch(() => {});
  }

  async #connect(): Promise<void> {
    let failure: unknown;
    try {
      await this.#client.start();
    } catch (err) {
      failure = err ?? new Error("disconnected before Slack said hello");
    }
    this.#connecting = undefined;
    if (this.#stopped) return;
    if (failure === undefined) {
      this.#connected = true;
      this.#failures = 0;
      this.#options.log("info", `Slack: Socket Mode (${this.credential}) connected`);
      return;
    }
    this.#options.log("warn", `Slack: Socket Mode (${this.credential}) could not connect`, {
      error: describeSlackError(failure),
    });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped || this.#timer || this.#connecting) return;
    const base = this.#options.reconnectDelayMs ?? 1_000;
    const delay = Math.min(MAX_RECONNECT_DELAY_MS, base * 2 ** Math.min(this.#failures, 16));
    this.#failures++;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.start();
    }, delay);
  }

  async #onEvent(event: SocketEvent): Promise<void> {
    try {
      // Slack redelivers an envelope not acknowledged within 3 s: ack before any work.
      await event.ack();
    } catch (err) {
      this.#options.log("warn", `Slack: could not acknowledge a Socket Mode envelope`, {
        type: event.type,
        error: describeSlackError(err),
      });
    }
    if (event.type !== "interactive") return;
    try {
      this.#options.onInteractive(event.body);
    } catch (err) {
      this.#options.log("error", "Slack: handling an interaction failed", {
        error: describeSlackError(err),
      });
    }
  }
}

interface SocketEvent {
  ack(response?: Record<string, unknown>): Promise<void>;
  type: string;
  body: unknown;
}

/**
 * A Slack SDK logger that feeds ours: debug output (request bodies, websocket payloads) is
 * dropped, and anything shaped like a Slack token is masked before it is logged.
 */
export function slackLogger(log: SlackLog, name: string): Logger {
  const line = (parts: unknown[]) => maskTokens(`${name}: ${parts.map(String).join(" ")}`);
  return {
    debug: () => {},
    info: (...parts: unknown[]) => log("debug", line(parts)),
    warn: (...parts: unknown[]) => log("warn", line(parts)),
    error: (...parts: unknown[]) => log("warn", line(parts)),
    setLevel: () => {},
    // The SDK's enum, without importing the SDK for one value.
    getLevel: () => "info" as LogLevel,
    setName: () => {},
  };
}

/**
 * One line about a Slack SDK error, with anything shaped like a token masked: platform errors
 * carry Slack's error code (`channel_not_found`), request errors the network cause.
 */
export function describeSlackError(err: unknown): string {
  const data = (err as { data?: { error?: unknown } } | null)?.data;
  const code = typeof data?.error === "string" ? data.error : undefined;
  const text = code ?? (err instanceof Error ? err.message : String(err));
  return maskTokens(text.split("\n")[0].slice(0, 300));
}

/** Masks Slack tokens (`xoxb-…`, `xapp-…`, …) and Socket Mode tickets in `text`. */
export function maskTokens(text: string): string {
  return text
    .replace(/\bx(?:ox[a-z]|app)-[A-Za-z0-9-]+/g, "[redacted token]")
    .replace(/([?&]ticket=)[^&\s]+/g, "$1[redacted]");
}
