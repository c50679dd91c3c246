/**
 * A fake Slack for the Slack approver's tests, speaking the real wire formats on loopback:
 *
 * - Web API (`POST /api/<method>`, form-encoded arguments, `Authorization: Bearer <token>`,
 *   JSON `{ok, …}` answers): `chat.postMessage`, `chat.update`, `chat.postEphemeral`,
 *   `apps.connections.open` (answers the `ws://` URL of the fake Socket Mode server) and
 *   `auth.test`. Like Slack, it resolves `#name` channels to ids, and `chat.update` accepts only
 *   the id.
 * - Socket Mode (`GET /link/?ticket=…`, upgraded to a websocket): sends `hello`, lets the test
 *   push `interactive` envelopes and records every acknowledgement.
 * - Helpers that build `block_actions` payloads from the buttons of a posted message, and signed
 *   HTTP interactivity requests.
 *
 * @module
 */

import { slackSignature } from "../src/approvals/slack.ts";

/** One Web API call as the fake received it. */
export interface SlackCall {
  method: string;
  /** Bearer token presented (tests assert which token each call used). */
  token: string | null;
  /** Arguments; JSON-valued ones (`blocks`) parsed. */
  args: Record<string, unknown>;
}

/** A message as it stands in the fake workspace. */
export interface FakeMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: Record<string, unknown>[];
  /** How many times `chat.update` replaced it. */
  updates: number;
}

/** An acknowledgement the client sent over Socket Mode. */
export interface SocketAck {
  envelope_id: string;
  payload?: unknown;
}

/** Options for {@linkcode FakeSlack.start}. */
export interface FakeSlackOptions {
  /** The only bot token the Web API accepts. @default {"xoxb-test-bot"} */
  botToken?: string;
  /** The only app-level token `apps.connections.open` accepts. @default {"xapp-1-test-app"} */
  appToken?: string;
}

/** Slack on 127.0.0.1, for one test. */
export class FakeSlack {
  readonly calls: SlackCall[] = [];
  readonly messages = new Map<string, FakeMessage>();
  readonly acks: SocketAck[] = [];
  /** Web API methods that answer `{ok: false, error}` until cleared. */
  readonly failing = new Map<string, string>();
  /** Socket Mode connections opened so far. */
  connections = 0;
  readonly botToken: string;
  readonly appToken: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #sockets = new Set<WebSocket>();
  #nextTs = 1_700_000_000;
  #nextEnvelope = 1;
  readonly #ackWaiters = new Map<string, (ack: SocketAck) => void>();

  private constructor(options: FakeSlackOptions) {
    this.botToken = options.botToken ?? "xoxb-test-bot";
    this.appToken = options.appToken ?? "xapp-1-test-app";
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      (req) => this.#handle(req),
    );
  }

  /** Starts the fake on a random loopback port. */
  static start(options: FakeSlackOptions = {}): FakeSlack {
    return new FakeSlack(options);
  }

  /** Web API base URL (`slackApiUrl`), ending in `/`. */
  get apiUrl(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/api/`;
  }

  /** Calls of one Web API method, in order. */
  callsTo(method: string): SlackCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Open Socket Mode connections. */
  get openSockets(): number {
    return [...this.#sockets].filter((s) => s.readyState === WebSocket.OPEN).length;
  }

  /**
   * Pushes an `interactive` envelope carrying `payload` to every open Socket Mode connection and
   * resolves with the client's acknowledgement.
   */
  interactive(payload: unknown): Promise<SocketAck> {
    const envelopeId = `env-${this.#nextEnvelope++}`;
    const acked = new Promise<SocketAck>((resolve) => this.#ackWaiters.set(envelopeId, resolve));
    const open = [...this.#sockets].filter((s) => s.readyState === WebSocket.OPEN);
    if (open.length === 0) throw new Error("no Socket Mode connection is open");
    for (const socket of open) {
      socket.send(JSON.stringify({
        envelope_id: envelopeId,
        type: "interactive",
        payload,
        accepts_response_payload: false,
      }));
    }
    return acked;
  }

  /** Drops every Socket Mode connection, as Slack does when it recycles a server. */
  dropSockets(): void {
    for (const socket of this.#sockets) socket.close(1001, "going away");
  }

  /** Closes the sockets and the server. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) {
      if (socket.readyState === WebSocket.OPEN) socket.close(1000);
    }
    await this.#server.shutdown();
  }

  async #handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/link/" || url.pathname === "/link") return this.#upgrade(req, url);
    const method = /^\/api\/([a-zA-Z.]+)$/.exec(url.pathname)?.[1];
    if (!method || req.method !== "POST") return new Response("not found", { status: 404 });
    const form = new URLSearchParams(await req.text());
    const args: Record<string, unknown> = {};
    for (const [key, value] of form) {
      args[key] = key === "blocks" || key === "attachments" ? JSON.parse(value) : value;
    }
    const token = /^Bearer (\S+)$/.exec(req.headers.get("authorization") ?? "")?.[1] ?? null;
    this.calls.push({ method, token, args });
    const failure = this.failing.get(method);
    if (failure) return Response.json({ ok: false, error: failure });
    if (method === "apps.connections.open") {
      if (token !== this.appToken) {
        return Response.json({
          ok: false,
          error: token?.startsWith("xoxb-") ? "not_allowed_token_type" : "invalid_auth",
        });
      }
      const ticket = crypto.randomUUID();
      return Response.json({
        ok: true,
        url: `ws://127.0.0.1:${this.#server.addr.port}/link/?ticket=${ticket}&app_id=A0TEST`,
      });
    }
    if (token !== this.botToken) return Response.json({ ok: false, error: "invalid_auth" });
    switch (method) {
      case "auth.test":
        return Response.json({
          ok: true,
          url: "https://acme.slack.com/",
          team: "Acme",
          user: "clawpatrol",
          team_id: "T0TEST",
          user_id: "U0BOT",
          bot_id: "B0BOT",
        });
      case "chat.postMessage": {
        const channel = channelId(String(args.channel ?? ""));
        if (!channel) return Response.json({ ok: false, error: "channel_not_found" });
        const ts = `${this.#nextTs++}.000100`;
        const message: FakeMessage = {
          channel,
          ts,
          text: String(args.text ?? ""),
          blocks: (args.blocks as Record<string, unknown>[]) ?? [],
          updates: 0,
        };
        this.messages.set(`${channel}/${ts}`, message);
        return Response.json({ ok: true, channel, ts, message: { text: message.text, ts } });
      }
      case "chat.update": {
        // Like Slack: an update names the channel by id, not by #name.
        const message = this.messages.get(`${args.channel}/${args.ts}`);
        if (!message) {
          return Response.json({
            ok: false,
            error: String(args.channel).startsWith("#") ? "channel_not_found" : "message_not_found",
          });
        }
        message.text = String(args.text ?? "");
        message.blocks = (args.blocks as Record<string, unknown>[]) ?? [];
        message.updates++;
        return Response.json({ ok: true, channel: message.channel, ts: message.ts });
      }
      case "chat.postEphemeral":
        return Response.json({ ok: true, message_ts: `${this.#nextTs++}.000200` });
      default:
        return Response.json({ ok: false, error: "unknown_method" });
    }
  }

  #upgrade(req: Request, url: URL): Response {
    if (!url.searchParams.get("ticket") || req.headers.get("upgrade") !== "websocket") {
      return new Response("bad ticket", { status: 400 });
    }
    const { socket, response } = Deno.upgradeWebSocket(req);
    this.connections++;
    this.#sockets.add(socket);
    socket.onopen = () => {
      socket.send(JSON.stringify({
        type: "hello",
        num_connections: this.#sockets.size,
        debug_info: { host: "applink-fake", approximate_connection_time: 18060 },
        connection_info: { app_id: "A0TEST" },
      }));
    };
    socket.onmessage = (event) => {
      const ack = JSON.parse(String(event.data)) as SocketAck;
      this.acks.push(ack);
      this.#ackWaiters.get(ack.envelope_id)?.(ack);
      this.#ackWaiters.delete(ack.envelope_id);
    };
    socket.onclose = () => this.#sockets.delete(socket);
    socket.onerror = () => {};
    return response;
  }
}

/** `#agent-ops` → `CAGENTOPS`; ids pass through; anything else is not a channel. */
export function channelId(channel: string): string | null {
  if (/^[CGD][A-Z0-9]{2,}$/.test(channel)) return channel;
  const name = /^#([a-z0-9_-]{1,80})$/.exec(channel)?.[1];
  return name ? `C${name.replace(/[^a-z0-9]/g, "").toUpperCase()}` : null;
}

/** Options for {@linkcode clickPayload}. */
export interface ClickOptions {
  /** Replaces the button's value (a forged or stale binding). */
  value?: string;
  /** Replaces the message ts the click claims to come from. */
  messageTs?: string;
}

/**
 * The `block_actions` payload Slack sends when `user` clicks `button` on `message`: the button
 * (action id and value) is taken from the message's own blocks.
 */
export function clickPayload(
  message: FakeMessage,
  user: string,
  button: "approve" | "deny",
  options: ClickOptions = {},
): Record<string, unknown> {
  const actionId = button === "approve" ? "clawpatrol_approve" : "clawpatrol_deny";
  const actions = message.blocks.find((b) => b.type === "actions") as
    | { block_id: string; elements: Record<string, unknown>[] }
    | undefined;
  const element = actions?.elements.find((e) => e.action_id === actionId);
  if (!actions || !element) throw new Error(`the message has no ${button} button`);
  const ts = options.messageTs ?? message.ts;
  return {
    type: "block_actions",
    user: { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: "T0TEST" },
    api_app_id: "A0TEST",
    token: "legacy-verification-token",
    container: {
      type: "message",
      message_ts: ts,
      channel_id: message.channel,
      is_ephemeral: false,
    },
    trigger_id: "1234.5678.abcdef",
    team: { id: "T0TEST", domain: "acme" },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: message.channel, name: "agent-ops" },
    message: { type: "message", ts, text: message.text, blocks: message.blocks },
    state: { values: {} },
    response_url: "https://hooks.slack.com/actions/T0TEST/1/abc",
    actions: [{
      action_id: actionId,
      block_id: actions.block_id,
      text: element.text,
      value: options.value ?? element.value,
      style: element.style,
      type: "button",
      action_ts: `${Math.floor(Date.now() / 1000)}.000300`,
    }],
  };
}

/**
 * A `POST /slack/interactivity` request as Slack sends it: form field `payload`, signed with
 * `signingSecret` at `timestamp` (unix seconds; default now).
 */
export async function interactivityRequest(
  url: string,
  signingSecret: string,
  payload: unknown,
  options: { timestamp?: number; signature?: string } = {},
): Promise<Request> {
  const body = new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return new Request(url, {
    method: "POST",
    headers: {
      "content-type": "application/x-www-form-urlencoded",
      "x-slack-request-timestamp": String(timestamp),
      "x-slack-signature": options.signature ??
        await slackSignature(signingSecret, timestamp, body),
      "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    },
    body,
  });
}
