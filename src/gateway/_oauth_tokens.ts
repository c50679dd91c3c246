/**
 * Short-lived access tokens the gateway keeps for `gcp_service_account` (a Google service
 * account key in the vault, exchanged with a signed JWT) and `oauth_refresh` (a refresh token in
 * the vault) credentials: fetched on first use, reused until close to expiry, fetched again
 * before they expire. A token endpoint that refuses or cannot be reached refuses the request
 * with a clear reason and an operator line: nothing is forwarded unauthenticated.
 *
 * @module
 */

import type { Config } from "../config/mod.ts";
import type { AgentFacts } from "../core/mod.ts";
import {
  DEFAULT_SLOT,
  parseServiceAccountKey,
  refreshTokenGrant,
  serviceAccountGrant,
  type TokenRequest,
} from "../credentials/mod.ts";
import type { Logger } from "./log.ts";
import type { SecretCache } from "./_secrets.ts";

/** Vault slot of an `oauth_refresh` credential's client secret (the refresh token: default). */
export const CLIENT_SECRET_SLOT = "client_secret";

const CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform";
/** A token is replaced this long before it expires, or halfway through a shorter life. */
const REFRESH_MARGIN_MS = 5 * 60_000;
const TOKEN_TIMEOUT_MS = 10_000;

/** A token in hand and when to replace it. */
interface Held {
  token: string;
  refreshAt: number;
}

/** One configured token-minting credential. */
interface Minter {
  name: string;
  kind: "gcp_service_account" | "oauth_refresh";
  settings: Readonly<Record<string, string | string[]>>;
}

/** What {@linkcode OAuthTokens} needs besides the config. */
export interface OAuthTokensOptions {
  /** @default {globalThis.fetch} */
  fetch?: typeof fetch;
}

/** Access tokens of every `gcp_service_account` and `oauth_refresh` credential in one config. */
export class OAuthTokens {
  readonly #minters = new Map<string, Minter>();
  readonly #held = new Map<string, Held>();
  readonly #pending = new Map<string, Promise<string | { refusal: string }>>();
  readonly #secrets: SecretCache;
  readonly #log: Logger;
  readonly #fetch: typeof fetch;
  readonly #unsubscribe: () => void;

  constructor(config: Config, secrets: SecretCache, log: Logger, options: OAuthTokensOptions = {}) {
    for (const [ref, c] of config.credentials) {
      if (c.kind === "gcp_service_account" || c.kind === "oauth_refresh") {
        this.#minters.set(ref, { name: c.name, kind: c.kind, settings: c.settings });
      }
    }
    this.#secrets = secrets;
    this.#log = log;
    this.#fetch = options.fetch ?? fetch;
    // A new key or refresh token in the vault takes effect at once.
    this.#unsubscribe = secrets.onForget(() => this.#held.clear());
  }

  /** Stops following the secret cache and drops every token. */
  close(): void {
    this.#unsubscribe();
    this.#held.clear();
  }

  /** Whether `ref` names a credential whose value is a minted access token. */
  has(ref: string): boolean {
    return this.#minters.has(ref);
  }

  /** The access token of `ref`, fetching one when none is held or it is close to expiry. */
  token(ref: string, agent: AgentFacts): Promise<string | { refusal: string }> {
    const held = this.#held.get(ref);
    if (held && Date.now() < held.refreshAt) return Promise.resolve(held.token);
    // Concurrent requests share one fetch.
    let pending = this.#pending.get(ref);
    if (!pending) {
      pending = this.#mint(ref, agent).finally(() => this.#pending.delete(ref));
      this.#pending.set(ref, pending);
    }
    return pending;
  }

  async #mint(ref: string, agent: AgentFacts): Promise<string | { refusal: string }> {
    const minter = this.#minters.get(ref)!;
    const { name } = minter;
    const refuse = (why: string, fix?: string) => {
      this.#log.log("warn", `credential '${name}': ${why}`, {
        agent: agent.name,
        ...fix ? { fix } : {},
      });
      return { refusal: `credential '${name}' has no valid access token: ${why}` };
    };
    let request: TokenRequest;
    try {
      const secret = await this.#secrets.get(name);
      if (secret === null) {
        return refuse("no value in the vault", `clawpatrol vault set ${name}`);
      }
      request = minter.kind === "gcp_service_account"
        ? await serviceAccountGrant(parseServiceAccountKey(secret), { scopes: scopesOf(minter) })
        : refreshTokenGrant({
          tokenUrl: String(minter.settings.token_url),
          refreshToken: secret,
          clientId: text(minter.settings.client_id),
          clientSecret: await this.#secrets.get(name, CLIENT_SECRET_SLOT) ?? undefined,
          clientAuth: minter.settings.client_auth === "basic" ? "basic" : "form",
          scope: text(minter.settings.scope),
        });
    } catch (err) {
      // VaultError and the grants' TypeErrors name fields, never values.
      return refuse((err as Error).message);
    }
    if (!tokenUrlAllowed(request.url)) {
      return refuse(`token endpoint ${originOf(request.url)} is not https`);
    }
    let response: Response;
    try {
      response = await this.#fetch(request.url, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          accept: "application/json",
          ...request.basic ? { authorization: `Basic ${request.basic}` } : {},
        },
        body: request.form,
        signal: AbortSignal.timeout(TOKEN_TIMEOUT_MS),
      });
    } catch {
      return refuse(`token endpoint ${originOf(request.url)} cannot be reached`);
    }
    const body = await response.json().catch(() => null) as Record<string, unknown> | null;
    if (!response.ok || typeof body?.access_token !== "string") {
      // `error` is one of RFC 6749 §5.2's codes (invalid_grant: revoked or expired), no secret.
      const code = typeof body?.error === "string" ? ` ${body.error.slice(0, 64)}` : "";
      return refuse(`the token endpoint answered ${response.status}${code}`);
    }
    const lifetimeMs = typeof body.expires_in === "number" && body.expires_in > 0
      ? body.expires_in * 1000
      : 3600_000;
    this.#held.set(ref, {
      token: body.access_token,
      refreshAt: Date.now() + lifetimeMs - Math.min(REFRESH_MARGIN_MS, lifetimeMs / 2),
    });
    if (minter.kind === "oauth_refresh" && typeof body.refresh_token === "string") {
      // Providers that rotate refresh tokens invalidate the old one: keep the new one.
      await this.#secrets.set(name, DEFAULT_SLOT, body.refresh_token);
    }
    return body.access_token;
  }
}

function scopesOf(minter: Minter): string[] {
  const scopes = text(minter.settings.scopes);
  return scopes ? scopes.split(/\s+/).filter((s) => s !== "") : [CLOUD_PLATFORM];
}

function text(value: string | string[] | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** https, or plain http to a loopback address (a token endpoint on the gateway's own host). */
export function tokenUrlAllowed(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === "https:") return true;
    return u.protocol === "http:" && ["127.0.0.1", "[::1]", "localhost"].includes(u.hostname);
  } catch {
    return false;
  }
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(not a URL)";
  }
}
