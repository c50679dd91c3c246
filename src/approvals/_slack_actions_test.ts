import { deepStrictEqual as equal, throws } from "node:assert/strict";
import {
  APPROVE_ACTION,
  blockActionClicks,
  buttonValue,
  DENY_ACTION,
  interactivityPayload,
  parseButtonValue,
} from "./_slack_actions.ts";

const FP = "ab".repeat(32);

function payload(actions: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return {
    type: "block_actions",
    user: { id: "U1", name: "ann" },
    container: { type: "message", message_ts: "1700000000.000100", channel_id: "CAGENTOPS" },
    channel: { id: "CAGENTOPS", name: "agent-ops" },
    actions,
    ...extra,
  };
}

Deno.test("buttonValue() and parseButtonValue() round-trip an id and fingerprint", () => {
  const target = { id: "apr_0123456789abcdef0123", fingerprint: FP };
  equal(parseButtonValue(buttonValue(target)), target);
});

Deno.test("parseButtonValue() refuses anything else", () => {
  for (
    const value of [
      undefined,
      7,
      "",
      "apr_1",
      `apr_1:${FP.slice(2)}`,
      `apr_1:${FP.toUpperCase()}`,
      `x_1:${FP}`,
      `apr_1:${FP}:x`,
    ]
  ) {
    equal(parseButtonValue(value), null, String(value));
  }
});

Deno.test("blockActionClicks() reads approve and deny clicks with who, channel and message", () => {
  const value = buttonValue({ id: "apr_1", fingerprint: FP });
  const clicks = blockActionClicks(payload([
    { action_id: APPROVE_ACTION, value, type: "button" },
    { action_id: DENY_ACTION, value, type: "button" },
  ]));
  const common = {
    id: "apr_1",
    fingerprint: FP,
    user: "U1",
    channel: "CAGENTOPS",
    messageTs: "1700000000.000100",
  };
  equal(clicks, [{ ...common, decision: "allow" }, { ...common, decision: "deny" }]);
});

Deno.test("blockActionClicks() ignores other payloads, other actions, bad values and odd users", () => {
  const value = buttonValue({ id: "apr_1", fingerprint: FP });
  equal(blockActionClicks(null), []);
  equal(
    blockActionClicks({
      ...payload([{ action_id: APPROVE_ACTION, value }]),
      type: "view_submission",
    }),
    [],
  );
  equal(blockActionClicks(payload([{ action_id: "someone_elses", value }])), []);
  equal(blockActionClicks(payload([{ action_id: APPROVE_ACTION, value: "apr_1" }])), []);
  equal(blockActionClicks(payload([{ action_id: APPROVE_ACTION, value }], { user: {} })), []);
  equal(
    blockActionClicks(
      payload([{ action_id: APPROVE_ACTION, value }], { user: { id: "U1+cli:x" } }),
    ),
    [],
  );
  equal(blockActionClicks(payload("nope" as never)), []);
});

Deno.test("interactivityPayload() reads the form field Slack posts, and throws without it", () => {
  const body = new URLSearchParams({ payload: JSON.stringify({ type: "block_actions", a: "&=" }) });
  equal(interactivityPayload(body.toString()), { type: "block_actions", a: "&=" });
  throws(() => interactivityPayload("text=hi"), SyntaxError);
  throws(() => interactivityPayload("payload=%7Bnot"), SyntaxError);
});
