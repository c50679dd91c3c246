import { deepStrictEqual as equal, ok } from "node:assert/strict";
import {
  SLACK_SIGNATURE_HEADER,
  SLACK_TIMESTAMP_HEADER,
  slackSignature,
  type SlackSignedHeaders,
  slackSignedHeaders,
  verifySlackSignature,
} from "./_slack_signature.ts";

// The worked example of https://api.slack.com/authentication/verifying-requests-from-slack.
const DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5";
const DOC_TIMESTAMP = 1531420618;
const DOC_BODY = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&" +
  "channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&" +
  "command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F" +
  "T1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&" +
  "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

const encode = (text: string) => new TextEncoder().encode(text);

function headers(timestamp: string | number, signature: string): Headers {
  return new Headers({
    [SLACK_TIMESTAMP_HEADER]: String(timestamp),
    [SLACK_SIGNATURE_HEADER]: signature,
  });
}

Deno.test("slackSignature() reproduces Slack's documented example", async () => {
  equal(await slackSignature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY), DOC_SIGNATURE);
});

Deno.test("verifySlackSignature() accepts Slack's example and refuses a changed body or secret", async () => {
  const signed = slackSignedHeaders(headers(DOC_TIMESTAMP, DOC_SIGNATURE), DOC_TIMESTAMP * 1000);
  ok(typeof signed !== "string", String(signed));
  ok(await verifySlackSignature(DOC_SECRET, signed, encode(DOC_BODY)));
  ok(
    !await verifySlackSignature(
      DOC_SECRET,
      signed,
      encode(DOC_BODY.replace("roadrunner", "coyote")),
    ),
  );
  ok(!await verifySlackSignature(`${DOC_SECRET}x`, signed, encode(DOC_BODY)));
  // The timestamp is part of what is signed.
  const moved = slackSignedHeaders(headers(DOC_TIMESTAMP + 1, DOC_SIGNATURE), DOC_TIMESTAMP * 1000);
  ok(!await verifySlackSignature(DOC_SECRET, moved as SlackSignedHeaders, encode(DOC_BODY)));
});

Deno.test("slackSignedHeaders() refuses timestamps more than five minutes away, either way", () => {
  const at = DOC_TIMESTAMP * 1000;
  ok(typeof slackSignedHeaders(headers(DOC_TIMESTAMP - 300, DOC_SIGNATURE), at) !== "string");
  equal(slackSignedHeaders(headers(DOC_TIMESTAMP - 301, DOC_SIGNATURE), at), "stale");
  equal(slackSignedHeaders(headers(DOC_TIMESTAMP + 301, DOC_SIGNATURE), at), "stale");
});

Deno.test("slackSignedHeaders() reports missing and malformed headers", () => {
  const at = DOC_TIMESTAMP * 1000;
  equal(slackSignedHeaders(new Headers(), at), "missing");
  equal(
    slackSignedHeaders(new Headers({ [SLACK_SIGNATURE_HEADER]: DOC_SIGNATURE }), at),
    "missing",
  );
  equal(slackSignedHeaders(headers("soon", DOC_SIGNATURE), at), "malformed");
  equal(
    slackSignedHeaders(headers(DOC_TIMESTAMP, DOC_SIGNATURE.replace("v0=", "v1=")), at),
    "malformed",
  );
  equal(slackSignedHeaders(headers(DOC_TIMESTAMP, DOC_SIGNATURE.slice(0, -2)), at), "malformed");
  const upper = slackSignedHeaders(
    headers(DOC_TIMESTAMP, DOC_SIGNATURE.toUpperCase().replace("V0", "v0")),
    at,
  );
  equal((upper as SlackSignedHeaders).signature, DOC_SIGNATURE);
});
