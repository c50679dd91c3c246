/**
 * Shared by the request smuggling tests: raw requests, and assertions that the gateway refused
 * one with a deny receipt, closed the connection and forwarded nothing.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import type { Receipt } from "../src/core/mod.ts";
import type { ProxyFixture } from "./_proxy_fixture.ts";
import {
  type GatewayBody,
  gatewayBody,
  header,
  openProxy,
  openTunnel,
  type RawResponse,
  type TunnelOptions,
} from "./_raw_tunnel.ts";

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The receipt `id` names, which must exist and record a deny. */
export async function denyReceipt(fx: ProxyFixture, id: string | null): Promise<Receipt> {
  ok(id, "the gateway's answer names a receipt");
  const row = (await fx.receipts()).find((r) => r.id === id);
  ok(row, `receipt ${id} was recorded`);
  equal(row.verdict, "deny");
  return row;
}

/** Asserts a gateway-made refusal with `status` and a deny receipt; returns its JSON body. */
export async function assertRefused(
  fx: ProxyFixture,
  res: RawResponse,
  status: number,
): Promise<GatewayBody> {
  equal(res.status, status, res.body);
  const body = gatewayBody(res);
  equal(header(res, "x-clawpatrol-receipt"), body.receipt);
  await denyReceipt(fx, body.receipt);
  return body;
}

/**
 * Sends `request` as the first bytes of a fresh tunnel and asserts the gateway answers `status`,
 * closes the connection, records a deny and forwards nothing.
 */
export async function refusedInTunnel(
  fx: ProxyFixture,
  request: string,
  status: number,
  options: TunnelOptions = {},
): Promise<GatewayBody> {
  const seen = fx.seen.length;
  const t = await openTunnel(fx, options);
  try {
    // The gateway may answer and close before an oversized request is fully written.
    await t.trySend(request);
    const res = await t.readResponse();
    const body = await assertRefused(fx, res, status);
    equal(header(res, "connection"), "close");
    ok(await t.waitClosed(), "the gateway closes the connection");
    equal(fx.seen.length, seen, "nothing reached the upstream");
    return body;
  } finally {
    await t.close();
  }
}

/** The same on a plain connection to the proxy port (absolute-form or garbage). */
export async function refusedOnProxyPort(
  fx: ProxyFixture,
  request: string | Uint8Array,
  statuses: number[],
): Promise<GatewayBody> {
  const p = await openProxy(fx);
  try {
    await p.trySend(request);
    const res = await p.readResponse();
    ok(statuses.includes(res.status), `status ${res.status} in ${statuses}: ${res.body}`);
    const body = await assertRefused(fx, res, res.status);
    ok(await p.waitClosed(), "the gateway closes the connection");
    equal(fx.seen.length, 0, "nothing reached the upstream");
    return body;
  } finally {
    await p.close();
  }
}

/** `POST /echo` with `extra` header lines (each ending CRLF) and then `body`. */
export function post(extra: string, body: string): string {
  return `POST /echo HTTP/1.1\r\nHost: api.test\r\n${extra}\r\n${body}`;
}

/** `GET path` with `extra` header lines (each ending CRLF). */
export function get(path: string, extra = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: api.test\r\n${extra}\r\n`;
}
