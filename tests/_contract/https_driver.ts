/**
 * The HTTPS forward proxy under the protocol contract: tests/_proxy_fixture.ts (`withProxy`)
 * with a header credential injected into every request to `api.test`, Deno's fetch through the
 * proxy as the client, and curl (killed mid-request) for the disconnect.
 *
 * @module
 */

import { join } from "node:path";
import { withProxy } from "../_proxy_fixture.ts";
import type { ProxyFixture } from "../_proxy_fixture.ts";
import { eventually } from "../_helpers.ts";
import {
  type ActionResult,
  type ContractDriver,
  type ContractGateway,
  holdFixture,
  logText,
} from "./contract.ts";

const SECRET = "sk_live_CONTRACT_https_9f8e7d6c5b4a";
const RECEIPT = "x-clawpatrol-receipt";
/** Longest an upstream holds a slow answer if nobody releases it. */
const SLOW_BOUND_MS = 5_000;

/**
 * Denies `/deny/…`, denies POST bodies containing `forbidden` (so a body past `body_buffer`,
 * unknown, must deny), allows the rest.
 */
const RULES = `
rule "contract-body" {
  endpoint  = https.api
  priority  = 20
  condition = "http.method == 'post' && http.body.contains('forbidden')"
  verdict   = "deny"
  reason    = "forbidden body"
}
rule "contract-deny" {
  endpoint  = https.api
  priority  = 10
  condition = "http.path.startsWith('/deny/')"
  verdict   = "deny"
  reason    = "denied by the contract rules"
}
rule "contract-allow" {
  endpoint  = https.api
  condition = "true"
  verdict   = "allow"
}
`;

const CREDENTIALS = `
credential "header_token" "contract_key" {
  endpoint = https.api
  header   = "X-Api-Key"
  inject   = "always"
}
`;

async function start(rules: string): Promise<ContractGateway> {
  const slow = new Map<string, () => void>();
  const handler = async (req: Request): Promise<Response> => {
    const path = new URL(req.url).pathname;
    await req.body?.cancel();
    if (path.startsWith("/slow/")) {
      // Held until the driver releases it (after the client is gone), bounded.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, SLOW_BOUND_MS);
        slow.set(path, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return Response.json({ path });
  };
  const { fx, release } = await holdFixture<ProxyFixture>((fn) =>
    withProxy({
      rules,
      limits: 'body_buffer = "1KiB"',
      credentials: CREDENTIALS,
      botCredentials: ["header_token.contract_key"],
      secrets: { contract_key: SECRET },
      handler,
    }, fn)
  );
  const caPem = await Deno.readTextFile(fx.caFile);
  const client = Deno.createHttpClient({
    proxy: {
      url: `http://127.0.0.1:${fx.proxyPort}`,
      basicAuth: { username: fx.agent, password: fx.token },
    },
    caCerts: [caPem],
  });
  const request = async (path: string, init: RequestInit = {}): Promise<ActionResult> => {
    const res = await fetch(`https://api.test${path}`, { ...init, client });
    const text = await res.text();
    return {
      ok: res.status < 400,
      status: res.status,
      text: `${res.headers.get("content-type")}\n${text}`,
      receipt: res.headers.get(RECEIPT) ?? undefined,
    };
  };
  const saw = (m: string) => fx.seen.some((s) => s.target.includes(m));
  return {
    allowed: (m) => request(`/allow/${m}`),
    denied: (m) => request(`/deny/${m}`),
    // ~100 KiB, past the 1 KiB body_buffer, without 'forbidden' in it: the deny rule cannot be
    // evaluated, so the allow-all rule must not win.
    unevaluable: (m) =>
      request(`/upload/${m}`, { method: "POST", body: "0123456789abcdef".repeat(6400) }),
    disconnectMidAction: async (m) => {
      const path = `/slow/${m}`;
      const curl = new Deno.Command("curl", {
        args: [
          "-sS",
          "-m",
          "20",
          "--proxy",
          fx.proxyUrl,
          "--cacert",
          fx.caFile,
          `https://api.test${path}`,
        ],
        // No proxy or CA settings from the developer's shell.
        clearEnv: true,
        env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        await eventually(`${path} reaching the upstream`, () => slow.has(path) || undefined);
      } finally {
        curl.kill("SIGKILL");
        await curl.status;
      }
      // Only now does the upstream answer: the gateway has a response and nobody to give it to.
      slow.get(path)!();
    },
    upstreamSaw: saw,
    secretUsed: () => fx.seen.some((s) => s.headers.get("x-api-key")?.includes(SECRET) ?? false),
    receipts: () => fx.receipts(),
    receiptsDb: join(fx.dir, "state", "receipts.db"),
    logLines: () => fx.log.lines.map(logText),
    stop: async () => {
      for (const open of slow.values()) open();
      client.close();
      await release();
    },
  };
}

export const httpsDriver: ContractDriver = {
  rules: RULES,
  start,
  secret: SECRET,
  // AGENT_GONE, or AGENT_HALF_CLOSED when the gateway saw the FIN but its writes still succeeded.
  gone: /agent went away|agent closed its side before the response was complete/,
  isNativeDeny: (r) => {
    if (r.status !== 403 || !r.receipt?.startsWith("rcpt_")) return false;
    const [type, ...body] = r.text.split("\n");
    if (!type.startsWith("application/json")) return false;
    try {
      const json = JSON.parse(body.join("\n"));
      return json.error === "denied" && json.receipt === r.receipt &&
        typeof json.reason === "string";
    } catch {
      return false;
    }
  },
};
