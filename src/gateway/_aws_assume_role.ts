/**
 * The gateway's own STS call for an `aws_credential` with `assume_role`: `AssumeRole` signed
 * with the vault's key, sent to the region's STS endpoint (through the credential's aws
 * endpoint's `upstream` and `ca_cert` when it sets them, as its agents' requests go), and the
 * temporary key pair it returns. Errors name STS's error code, never a key.
 *
 * @module
 */

import https from "node:https";
import { assumeRoleRequest, type AwsKeys } from "../credentials/mod.ts";

/** Where STS is dialled: its name (SNI, Host, verification) and the address to connect to. */
export interface StsRoute {
  host: string;
  dialHost: string;
  dialPort: number;
  /** PEM roots instead of the system's. */
  caCert?: string;
}

/** Temporary credentials and when they expire. */
export interface AssumedRole {
  keys: AwsKeys;
  expiresAt: number;
}

const TIMEOUT_MS = 10_000;

/**
 * Assumes `roleArn` with `base`.
 *
 * @returns the temporary keys, or why not (agent-facing: STS's status and error code).
 */
export async function assumeRole(
  base: AwsKeys,
  { roleArn, sessionName, region, route }: {
    roleArn: string;
    sessionName: string;
    region: string;
    route: StsRoute;
  },
): Promise<AssumedRole | { error: string }> {
  const { headers, body } = await assumeRoleRequest(base, {
    host: route.host,
    region,
    roleArn,
    sessionName,
  });
  let answer: { status: number; text: string };
  try {
    answer = await post(route, headers, body);
  } catch {
    return { error: `STS at ${route.host} cannot be reached` };
  }
  const field = (name: string) => new RegExp(`<${name}>([^<]*)</${name}>`).exec(answer.text)?.[1];
  if (answer.status !== 200) {
    const code = field("Code");
    return { error: `STS answered ${answer.status}${code ? ` ${code.slice(0, 64)}` : ""}` };
  }
  const accessKeyId = field("AccessKeyId");
  const secretAccessKey = field("SecretAccessKey");
  const sessionToken = field("SessionToken");
  const expiresAt = Date.parse(field("Expiration") ?? "");
  if (!accessKeyId || !secretAccessKey || !sessionToken || Number.isNaN(expiresAt)) {
    return { error: "STS answered without credentials" };
  }
  return { keys: { accessKeyId, secretAccessKey, sessionToken }, expiresAt };
}

function post(
  route: StsRoute,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: route.dialHost,
      port: route.dialPort,
      servername: route.host,
      ...route.caCert ? { ca: route.caCert } : {},
      method: "POST",
      path: "/",
      headers: { ...headers, "content-length": String(new TextEncoder().encode(body).length) },
      timeout: TIMEOUT_MS,
    }, (res) => {
      const chunks: Uint8Array[] = [];
      let size = 0;
      res.on("data", (c: Uint8Array) => {
        size += c.length;
        // An STS answer is a few KiB; anything far larger is not one.
        if (size > 1 << 20) req.destroy(new Error("answer too large"));
        else chunks.push(c);
      });
      res.on("end", () => {
        const all = new Uint8Array(size);
        let at = 0;
        for (const c of chunks) {
          all.set(c, at);
          at += c.length;
        }
        resolve({ status: res.statusCode ?? 0, text: new TextDecoder().decode(all) });
      });
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}
