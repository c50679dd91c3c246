import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { clientReplyShape, type GatewayReply, replyBytes } from "./_respond.ts";
import { xmlEscape } from "./_client_reply.ts";

const DENY: GatewayReply = {
  status: 403,
  error: "denied",
  reason: 'pushes need <review> & "approval"',
  rule: "no-push",
  receipt: "rcpt_9",
  close: false,
};

/** The status line, Content-Type and body of a deny as the request's tool gets it. */
function denyFor(headers: [string, string][]): { status: string; type: string; body: string } {
  const text = new TextDecoder().decode(
    replyBytes({ ...DENY, shape: clientReplyShape(headers) }),
  );
  const at = text.indexOf("\r\n\r\n");
  const lines = text.slice(0, at).split("\r\n");
  const type = lines.find((l) => l.toLowerCase().startsWith("content-type:")) ?? "";
  return { status: lines[0], type: type.slice(13).trim(), body: text.slice(at + 4) };
}

const GATEWAY_JSON =
  '{"error":"denied","reason":"pushes need <review> & \\"approval\\"","rule":"no-push","receipt":"rcpt_9"}\n';

Deno.test("clientReplyShape() keeps the gateway's JSON for API clients, no hint and unknown tools", () => {
  const cases: [string, [string, string][]][] = [
    ["no headers", []],
    ["Accept: application/json", [["Accept", "application/json"]]],
    ["curl", [["User-Agent", "curl/8.5.0"], ["Accept", "*/*"]]],
    ["python", [["User-Agent", "python-requests/2.31"]]],
    ["text and json", [["Accept", "text/plain, application/json"]]],
    ["a UA merely mentioning git", [["User-Agent", "Mozilla/5.0 (not git/2)"]]],
  ];
  for (const [name, headers] of cases) {
    const got = denyFor(headers);
    assertEquals([name, got.status, got.type, got.body], [
      name,
      "HTTP/1.1 403 Forbidden",
      "application/json",
      GATEWAY_JSON,
    ]);
  }
});

Deno.test("clientReplyShape() picks the deny shape each tool shows", () => {
  const cases: [string, [string, string][], string, string][] = [
    ["git", [["User-Agent", "git/2.39.5"], ["Accept", "*/*"]], "git_text", "text/plain"],
    [
      "npm",
      [["User-Agent", "npm/11.19.1 node/v20.20.2 linux x64"], [
        "Accept",
        "application/json",
      ]],
      "npm_json",
      "application/json",
    ],
    ["pip", [["User-Agent", 'pip/23.2.1 {"ci":null}']], "pip_json", "application/json"],
    [
      "aws-cli s3",
      [["User-Agent", "aws-cli/1.45.11 Python/3.11.7 botocore/1.43.11"]],
      "aws_xml",
      "application/xml",
    ],
    [
      "boto3 dynamodb",
      [["User-Agent", "Boto3/1.34.0 md/Botocore#1.34.0"], [
        "X-Amz-Target",
        "DynamoDB_20120810.ListTables",
      ]],
      "aws_json",
      "application/x-amz-json-1.0",
    ],
    ["aws sdk js", [["user-agent", "aws-sdk-js/3.500.0 ua/2.0"]], "aws_xml", "application/xml"],
    ["Accept text/plain", [["Accept", "text/plain"]], "plain_text", "text/plain"],
  ];
  for (const [name, headers, shape, type] of cases) {
    assertEquals([name, clientReplyShape(headers)], [name, shape]);
    assertEquals([name, denyFor(headers).type.split(";")[0]], [name, type]);
  }
});

Deno.test("replyBytes() gives git the reason, rule and receipt as text lines", () => {
  assertEquals(
    denyFor([["User-Agent", "git/2.45.0"]]).body,
    'denied by clawpatrol: pushes need <review> & "approval"\nrule: no-push\nreceipt: rcpt_9\n',
  );
});

Deno.test("replyBytes() puts the whole deny line in npm's error field and keeps the other fields", () => {
  assertEquals(JSON.parse(denyFor([["User-Agent", "npm/10.0.0 node/v20"]]).body), {
    error: 'denied by clawpatrol: pushes need <review> & "approval" (receipt rcpt_9, rule no-push)',
    reason: DENY.reason,
    rule: "no-push",
    receipt: "rcpt_9",
  });
});

Deno.test("replyBytes() tells pip the reason in a status line reason phrase it can carry", () => {
  const got = denyFor([["User-Agent", "pip/24.0"]]);
  assertEquals(got.body, GATEWAY_JSON);
  assertEquals(
    got.status,
    'HTTP/1.1 403 denied by clawpatrol: pushes need <review> & "approval" (receipt rcpt_9, rule no-push)',
  );
  // Control bytes and non-ASCII would break or smuggle into the head: they become `?`.
  const odd = new TextDecoder().decode(replyBytes({
    ...DENY,
    reason: "line\r\nX-Injected: 1 · ok",
    shape: "pip_json",
  }));
  assert(odd.startsWith("HTTP/1.1 403 denied by clawpatrol: line??X-Injected: 1 ? ok ("), odd);
  assert(!odd.includes("\r\nX-Injected"), odd);
});

Deno.test("replyBytes() answers AWS query/REST-XML clients with an escaped AccessDenied error", () => {
  assertEquals(
    denyFor([["User-Agent", "aws-cli/2.15.0"]]).body,
    '<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>' +
      "<Code>AccessDenied</Code><Message>denied by clawpatrol: pushes need &lt;review&gt; &amp; " +
      "&quot;approval&quot; (receipt rcpt_9, rule no-push)</Message></Error>" +
      "<RequestId>rcpt_9</RequestId></ErrorResponse>\n",
  );
});

Deno.test("replyBytes() answers AWS JSON-protocol clients with __type and message", () => {
  const got = denyFor([["User-Agent", "aws-cli/2.15.0"], ["X-Amz-Target", "Svc.Op"]]);
  assertEquals(JSON.parse(got.body), {
    __type: "AccessDeniedException",
    message:
      'denied by clawpatrol: pushes need <review> & "approval" (receipt rcpt_9, rule no-push)',
  });
});

Deno.test("xmlEscape() escapes markup and replaces characters XML 1.0 cannot carry", () => {
  assertEquals(xmlEscape(`a<b>&"c'\u0001\u0009`), "a&lt;b&gt;&amp;&quot;c&apos;\ufffd\u0009");
});

Deno.test("replyBytes() shapes non-deny refusals for tools too, with their own AWS codes", () => {
  const text = new TextDecoder().decode(replyBytes({
    status: 502,
    error: "bad_gateway",
    reason: "cannot connect to upstream",
    receipt: "rcpt_5",
    close: true,
    shape: "aws_xml",
  }));
  assert(text.includes("<Code>BadGateway</Code><Message>clawpatrol: cannot connect"), text);
});
