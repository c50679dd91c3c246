import { deepStrictEqual as assertEquals, rejects } from "node:assert/strict";
import type { ApprovalRequest } from "../core/mod.ts";
import { ApprovalQueue, type QueueEvent } from "./queue.ts";

const request = (id: string): ApprovalRequest => ({
  id,
  fingerprint: "0".repeat(64),
  protocol: "postgres",
  endpoint: "db",
  agent: { name: "bot", profile: "default" },
  rule: "updates",
  reason: "needs a DBA",
  summary: "UPDATE t SET x = 1",
  facts: {},
  createdAt: new Date(0),
});

Deno.test("ApprovalQueue settles a held request on the first allow (quorum 1) and forgets it", async () => {
  const queue = new ApprovalQueue();
  const events: QueueEvent["kind"][] = [];
  queue.subscribe((e) => events.push(e.kind));
  const waiting = queue.wait(request("apr_a"), "human_approver.ops", new AbortController().signal);
  assertEquals(queue.list().map((p) => p.request.id), ["apr_a"]);
  assertEquals(queue.decide("apr_a", "allow", "cli:ann", "fine"), "decided");
  assertEquals(await waiting, { decision: "allow", who: "cli:ann", reason: "fine" });
  assertEquals(queue.list(), []);
  assertEquals(queue.decide("apr_a", "allow", "cli:bob"), "unknown");
  assertEquals(events, ["held", "settled"]);
});

Deno.test("ApprovalQueue needs quorum distinct people; the same person twice is refused", async () => {
  const queue = new ApprovalQueue();
  const waiting = queue.wait(request("apr_q"), "human_approver.ops", new AbortController().signal, {
    quorum: 2,
  });
  assertEquals(queue.decide("apr_q", "allow", "slack:U1"), "recorded");
  assertEquals(queue.decide("apr_q", "allow", "slack:U1"), "refused");
  assertEquals(queue.get("apr_q")?.allowedBy, ["slack:U1"]);
  assertEquals(queue.decide("apr_q", "allow", "cli:ann"), "decided");
  assertEquals((await waiting).who, "slack:U1+cli:ann");
});

Deno.test("ApprovalQueue ignores Slack users outside the approvers list; a deny ends at once", async () => {
  const queue = new ApprovalQueue();
  const waiting = queue.wait(request("apr_s"), "human_approver.ops", new AbortController().signal, {
    quorum: 2,
    slackUsers: ["U1"],
  });
  assertEquals(queue.decide("apr_s", "allow", "slack:U9"), "refused");
  assertEquals(queue.decide("apr_s", "deny", "slack:U9"), "refused");
  assertEquals(queue.decide("apr_s", "deny", "slack:U1", "no"), "decided");
  assertEquals(await waiting, { decision: "deny", who: "slack:U1", reason: "no" });
});

Deno.test("ApprovalQueue drops a request whose stage was aborted", async () => {
  const queue = new ApprovalQueue();
  const gone = new AbortController();
  const reasons: unknown[] = [];
  queue.subscribe((e) => e.kind === "gone" && reasons.push(e.reason));
  const waiting = queue.wait(request("apr_g"), "human_approver.ops", gone.signal);
  const why = new Error("agent went away");
  gone.abort(why);
  assertEquals(reasons, [why]);
  await rejects(waiting, /agent went away/);
  assertEquals(queue.list(), []);
  assertEquals(queue.decide("apr_g", "allow", "cli:ann"), "unknown");
});
