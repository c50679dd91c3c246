/**
 * The Kubernetes listener under the protocol contract: tests/_k8s_fixture.ts (`withK8sGateway`)
 * in front of the fake API server (tests/_k8s_apiserver.ts), whose bearer token is the vaulted
 * secret. The client is a raw HTTPS request with the agent's clawpatrol token as bearer token,
 * as client-go sends it; the disconnect is a watch whose TLS connection the client closes.
 *
 * The fixture's rules apply (secrets denied, privileged pods denied, and pods whose body the
 * gateway cannot read, …, the rest allowed); `RULES` adds none of its own.
 *
 * @module
 */

import { join } from "node:path";
import { type K8sFixture, withK8sGateway } from "../_k8s_fixture.ts";
import { withTimeout } from "../_helpers.ts";
import {
  type ActionResult,
  type ContractDriver,
  type ContractGateway,
  holdFixture,
  logText,
} from "./contract.ts";

const SECRET = "k8s-CONTRACT-bearer-5e4d3c2b1a09";
const RECEIPT = "x-clawpatrol-receipt";
const RULES = "";

async function start(rules: string): Promise<ContractGateway> {
  const { fx, release } = await holdFixture<K8sFixture>((fn) =>
    withK8sGateway(fn, { rules, api: { token: SECRET } })
  );
  const client = Deno.createHttpClient({ caCerts: [fx.caPem] });
  const request = async (
    method: string,
    path: string,
    body?: string,
    contentType = "application/json",
  ): Promise<ActionResult> => {
    const res = await fetch(`${fx.url()}${path}`, {
      client,
      method,
      body,
      headers: { authorization: `Bearer ${fx.token}`, "content-type": contentType },
    });
    return {
      ok: res.status < 400,
      status: res.status,
      text: await res.text(),
      receipt: res.headers.get(RECEIPT) ?? undefined,
    };
  };
  const saw = (m: string) =>
    fx.api.requests.some((r) => r.path.includes(m) || r.query.includes(m) || r.body.includes(m));
  return {
    allowed: (m) =>
      request("GET", `/api/v1/namespaces/default/configmaps?labelSelector=contract%3D${m}`),
    denied: (m) => request("GET", `/api/v1/namespaces/default/secrets/${m}`),
    // A pod sent as protobuf: `http.body_json` is unknown, and the privileged-pod rule reads it.
    unevaluable: (m) =>
      request(
        "POST",
        `/api/v1/namespaces/default/pods?fieldManager=${m}`,
        "k8s\0\n\x0fopaque-protobuf",
        "application/vnd.kubernetes.protobuf",
      ),
    disconnectMidAction: async (m) => {
      const u = new URL(fx.url());
      const conn = await Deno.connectTls({
        hostname: u.hostname,
        port: Number(u.port),
        caCerts: [fx.caPem],
      });
      try {
        const target =
          `/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=3&labelSelector=&contract=${m}`;
        await conn.write(
          new TextEncoder().encode(
            `GET ${target} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${fx.token}\r\n` +
              `Accept: application/json\r\n\r\n`,
          ),
        );
        // The watch is open once its head (and the first events) arrive; then the client leaves.
        // timeoutSeconds=3 holds the fake server's watch open (it ends others after 500 ms), so
        // the client leaves first however loaded the machine is. Not longer: the gateway notices
        // a departed watcher only when the next event (here the end) cannot be written to it.
        const buf = new Uint8Array(16 * 1024);
        const n = await withTimeout(conn.read(buf), 10_000, "the watch's first bytes");
        const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
        if (!head.startsWith("HTTP/1.1 200")) throw new Error(`watch refused: ${head}`);
      } finally {
        conn.close();
      }
    },
    upstreamSaw: saw,
    secretUsed: () => fx.api.requests.some((r) => r.authorization === `Bearer ${SECRET}`),
    receipts: () => fx.receipts(),
    receiptsDb: join(fx.dir, "state", "receipts.db"),
    logLines: () => fx.log.lines.map(logText),
    stop: async () => {
      client.close();
      await release();
    },
  };
}

export const kubernetesDriver: ContractDriver = {
  rules: RULES,
  start,
  secret: SECRET,
  // As for HTTPS: the same exchange relays Kubernetes requests.
  gone: /agent went away|agent closed its side before the response was complete/,
  isNativeDeny: (r) => {
    if (r.status !== 403 || !r.receipt?.startsWith("rcpt_")) return false;
    try {
      const s = JSON.parse(r.text);
      return s.kind === "Status" && s.apiVersion === "v1" && s.status === "Failure" &&
        s.reason === "Forbidden" && s.code === 403 &&
        String(s.message).startsWith("denied by clawpatrol") &&
        String(s.message).includes(r.receipt);
    } catch {
      return false;
    }
  },
};
