import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
const assertStringIncludes = (s: string, part: string) => assert(s.includes(part), s);
import { replyBytes } from "./_respond.ts";

function parse(bytes: Uint8Array): { head: string; body: Record<string, unknown> } {
  const text = new TextDecoder().decode(bytes);
  const at = text.indexOf("\r\n\r\n");
  return { head: text.slice(0, at), body: JSON.parse(text.slice(at + 4)) };
}

Deno.test("replyBytes() answers a Kubernetes deny as a Forbidden Status naming reason, rule and receipt", () => {
  const { head, body } = parse(replyBytes({
    status: 403,
    error: "denied",
    reason: "Secrets are not readable by agents",
    rule: "k8s-no-secrets",
    receipt: "rcpt_1",
    close: false,
    shape: "k8s_status",
  }));
  assertStringIncludes(head, "HTTP/1.1 403 Forbidden");
  assertStringIncludes(head, "X-Clawpatrol-Receipt: rcpt_1");
  assertEquals(body, {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message:
      "denied by clawpatrol: Secrets are not readable by agents (receipt rcpt_1, rule k8s-no-secrets)",
    reason: "Forbidden",
    code: 403,
  });
});

Deno.test("replyBytes() maps gateway refusals to apiserver reasons in the Status shape", () => {
  const cases: [number, string][] = [[401, "Unauthorized"], [400, "BadRequest"], [
    408,
    "Timeout",
  ], [499, "InternalError"]];
  for (const [status, reason] of cases) {
    const { body } = parse(replyBytes({
      status,
      error: "x",
      reason: "why",
      receipt: null,
      close: true,
      shape: "k8s_status",
    }));
    assertEquals([body.reason, body.code, body.message], [reason, status, "clawpatrol: why"]);
  }
});

Deno.test("replyBytes() sends Kubernetes clients upstream failures as text kubectl shows", () => {
  const text = new TextDecoder().decode(replyBytes({
    status: 502,
    error: "bad_gateway",
    reason: "cannot connect to upstream 10.0.0.1:6443",
    receipt: "rcpt_3",
    close: true,
    shape: "k8s_status",
  }));
  assertStringIncludes(text, "Content-Type: text/plain; charset=utf-8");
  assertStringIncludes(
    text,
    "\r\n\r\nclawpatrol: cannot connect to upstream 10.0.0.1:6443 (receipt rcpt_3)\n",
  );
});

Deno.test("replyBytes() keeps the gateway's JSON shape by default", () => {
  const { body } = parse(replyBytes({
    status: 403,
    error: "denied",
    reason: "no",
    rule: "r",
    receipt: "rcpt_2",
    close: false,
  }));
  assertEquals(body, { error: "denied", reason: "no", rule: "r", receipt: "rcpt_2" });
});
