/**
 * Gateway-made responses shaped for the tool that asked, so a deny reaches the person or agent
 * reading the tool's output. Each tool shows only a narrow part of an error response (verified
 * against the real tools, tests/http_deny_tools_test.ts):
 *
 * - git (smart HTTP) prints a `text/plain` body's lines as `remote: …`, nothing for JSON;
 * - npm prints only the `error` field of a JSON body (`npm error 403 … - <error>`);
 * - pip prints the status line's reason phrase (`403 Client Error: <phrase> for url: …`), and for
 *   an index page only with `-v`: it skips an index it cannot read at debug level;
 * - the AWS CLI and SDKs print `An error occurred (<Code>) … : <Message>` from the service's own
 *   error shape: XML for query and REST-XML services (S3, STS, EC2), JSON `__type`/`message` for
 *   JSON-protocol services (requests with `X-Amz-Target`).
 *
 * Every shape carries the same reason and receipt as the default JSON (DESIGN.md §5), never more:
 * reasons are written for agents and hold no secret.
 *
 * @module
 */

import type { GatewayReply } from "./_respond.ts";

/** Body shapes chosen from the request's `User-Agent` and `Accept` (the default is JSON). */
export type ClientShape =
  | "git_text"
  | "plain_text"
  | "npm_json"
  | "pip_json"
  | "aws_xml"
  | "aws_json";

/** A gateway reply rendered for one tool. */
export interface ClientReply {
  contentType: string;
  body: string;
  /** Status line reason phrase, when the tool shows that instead of the body. */
  statusText?: string;
}

const AWS_AGENT = /(^|\s)(aws-cli|aws-sdk-[a-z0-9-]+|boto3|botocore)\//i;

function first(headers: readonly [string, string][], name: string): string {
  for (const [n, v] of headers) if (n.toLowerCase() === name) return v;
  return "";
}

/**
 * The body shape a request's tool will show, or `undefined` for the gateway's JSON (API clients,
 * no hint, anything unrecognised).
 *
 * @example
 * ```ts
 * clientReplyShape([["User-Agent", "git/2.39.5"]]); // "git_text"
 * clientReplyShape([["Accept", "application/json"]]); // undefined
 * ```
 */
export function clientReplyShape(headers: readonly [string, string][]): ClientShape | undefined {
  const agent = first(headers, "user-agent");
  if (/^git\//i.test(agent)) return "git_text";
  if (/^npm\//i.test(agent)) return "npm_json";
  if (/^pip\//i.test(agent)) return "pip_json";
  if (AWS_AGENT.test(agent)) {
    // JSON-protocol services name the operation in X-Amz-Target; their parsers read JSON only.
    return first(headers, "x-amz-target") !== "" ? "aws_json" : "aws_xml";
  }
  // A client that asks for plain text and not JSON gets text; any JSON or wildcard keeps JSON.
  const accept = first(headers, "accept").toLowerCase();
  if (accept.includes("text/plain") && !/json|\*\/\*/.test(accept)) return "plain_text";
  return undefined;
}

/** `denied by clawpatrol: <reason>` (or `clawpatrol: …` for other refusals). */
function headline(reply: GatewayReply): string {
  return `${reply.status === 403 ? "denied by clawpatrol" : "clawpatrol"}: ${reply.reason}`;
}

/** The headline with receipt and rule in parentheses, for one-line displays. */
function oneLine(reply: GatewayReply): string {
  const tags = [
    ...(reply.receipt ? [`receipt ${reply.receipt}`] : []),
    ...(reply.rule ? [`rule ${reply.rule}`] : []),
  ];
  return `${headline(reply)}${tags.length > 0 ? ` (${tags.join(", ")})` : ""}`;
}

/** Escapes text for XML 1.0 character data; characters XML cannot carry become U+FFFD. */
export function xmlEscape(text: string): string {
  return text
    // Matching control characters is the point: XML 1.0 (§2.2) forbids them even escaped.
    // deno-lint-ignore no-control-regex
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, "\ufffd")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * A reason phrase that is valid on a status line (RFC 9112 §4: HTAB, SP, VCHAR) and short:
 * anything else becomes `?`.
 */
function statusText(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?").slice(0, 200);
}

/** The AWS error code per status; 403 is what S3/STS (`AccessDenied`) and JSON services send. */
function awsCode(status: number, json: boolean): string {
  if (status === 403) return json ? "AccessDeniedException" : "AccessDenied";
  return ({
    400: "BadRequest",
    408: "RequestTimeout",
    502: "BadGateway",
    504: "GatewayTimeout",
  } as Record<number, string>)[status] ?? "InternalError";
}

/**
 * The reply as `shape`'s tool shows it. The fields of the default JSON stay in every JSON shape,
 * so scripts reading them keep working.
 *
 * @example
 * ```ts
 * const r = clientReply({ status: 403, error: "denied", reason: "no", receipt: "rcpt_1", close: false }, "git_text");
 * r.body; // "denied by clawpatrol: no\nreceipt: rcpt_1\n"
 * ```
 */
export function clientReply(reply: GatewayReply, shape: ClientShape): ClientReply {
  switch (shape) {
    case "git_text":
    case "plain_text":
      // git prints each line after `remote: `; one fact a line reads best there.
      return {
        contentType: "text/plain; charset=utf-8",
        body: [
          headline(reply),
          ...(reply.rule ? [`rule: ${reply.rule}`] : []),
          ...(reply.receipt ? [`receipt: ${reply.receipt}`] : []),
        ].join("\n") + "\n",
      };
    case "npm_json":
      // npm shows `error` alone, so it carries the whole line; the other fields stay as they are.
      return {
        contentType: "application/json",
        body: JSON.stringify({
          error: oneLine(reply),
          reason: reply.reason,
          ...(reply.rule !== undefined ? { rule: reply.rule } : {}),
          receipt: reply.receipt,
        }) + "\n",
      };
    case "pip_json":
      return {
        contentType: "application/json",
        body: JSON.stringify({
          error: reply.error,
          reason: reply.reason,
          ...(reply.rule !== undefined ? { rule: reply.rule } : {}),
          receipt: reply.receipt,
        }) + "\n",
        statusText: statusText(oneLine(reply)),
      };
    case "aws_json":
      return {
        contentType: "application/x-amz-json-1.0",
        body: JSON.stringify({ __type: awsCode(reply.status, true), message: oneLine(reply) }) +
          "\n",
      };
    case "aws_xml":
      // The query-protocol envelope: botocore's REST-XML, query and EC2 parsers all read it.
      return {
        contentType: "application/xml",
        body: `<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse><Error><Type>Sender</Type>` +
          `<Code>${awsCode(reply.status, false)}</Code>` +
          `<Message>${xmlEscape(oneLine(reply))}</Message></Error>` +
          `<RequestId>${xmlEscape(reply.receipt ?? "")}</RequestId></ErrorResponse>\n`,
      };
  }
}
