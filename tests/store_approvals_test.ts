// Approvals across gateways on a shared store (issue 24): a request held on gateway A is listed
// and approved through gateway B's admin API (the CLI pointed at B) and A releases it within a
// second; two gateways racing to decide one request: exactly one decision wins, and the agent
// gets the winner's answer; a held request whose gateway is killed is marked abandoned and can
// no longer be approved.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { postgresAvailable } from "./_postgres.ts";
import { killHard } from "./_crash_load.ts";
import { admin, type Gw, heldPost, withTwoGateways } from "./_two_gateways.ts";
import { cli, eventually } from "./_helpers.ts";
import { storeCli } from "./_shared_store.ts";

/** POSTs wait for a human on every gateway of the store. */
const HUMAN_WRITES = `approver "human_approver" "ops" {
  timeout = "2m"
}
rule "api-writes" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  approve   = [human_approver.ops]
}
`;

type Listed = { id: string; summary: string }[];

async function heldOn(gw: Gw, path: string): Promise<string> {
  return await eventually(
    `${path} to be listed`,
    async () => {
      const list = (await admin(gw, "/approvals")).json.approvals as Listed;
      return list.find((p) => p.summary.includes(path))?.id;
    },
    10_000,
    20,
  );
}

Deno.test({
  name: "store: a request held on A is approved with the CLI pointed at B, and A releases it",
  ignore: !postgresAvailable(),
}, async () => {
  await withTwoGateways({ extra: HUMAN_WRITES }, async (a, b, _store, upstream, bot) => {
    const answer = heldPost(a, bot, "/held-on-a");
    const id = await heldOn(b, "/held-on-a");
    const env = { CLAWPATROL_ADMIN_TOKEN: b.token, USER: "ops" };
    const listed = await cli(["approvals", "list", "--admin-url", b.served.admin], { env });
    match(listed.stdout, new RegExp(`${id} .* bot .* api-writes .*POST api\\.test/held-on-a`));
    const approved = await cli(
      ["approvals", "approve", id, "--reason", "fine", "--admin-url", b.served.admin],
      { env },
    );
    equal(approved.code, 0, approved.stderr);
    equal(await answer, 200);
    ok(upstream.seen.some((s) => s.method === "POST" && s.path === "/held-on-a"));
    // Decided: gone from both lists, and a second decision finds nothing.
    deepEqual((await admin(a, "/approvals")).json.approvals, []);
    deepEqual((await admin(b, "/approvals")).json.approvals, []);
    equal((await admin(a, `/approvals/${id}/deny`, { who: "late" })).status, 404);
    const log = await cli(["log", "--json", "--local", "--limit", "5", "-c", a.config]);
    match(log.stdout, /"who":"cli:ops"/);

    // Timed without the CLI's start-up: B's answer to the decision, to A's answer to the agent.
    const second = heldPost(a, bot, "/timed");
    const timedId = await heldOn(b, "/timed");
    const decided = await admin(b, `/approvals/${timedId}/approve`, { who: "ops" });
    const decidedAt = performance.now();
    equal(decided.status, 200);
    // A released it when its own queue let go of it (then it forwards the request).
    await eventually(
      "A to release the request",
      async () => {
        const held = (await admin(a, "/approvals")).json.approvals as Listed;
        return held.length === 0 ? true : undefined;
      },
      5_000,
      10,
    );
    const releaseMs = performance.now() - decidedAt;
    ok(releaseMs < 1_000, `A released ${releaseMs} ms after B took the decision`);
    equal(await second, 200);
  });
});

Deno.test({
  name: "store: two gateways racing to decide one request: exactly one decision wins",
  ignore: !postgresAvailable(),
}, async () => {
  await withTwoGateways({ extra: HUMAN_WRITES }, async (a, b, _store, upstream, bot) => {
    for (let round = 0; round < 4; round++) {
      const path = `/race-${round}`;
      // Held on A in even rounds, on B in odd ones: the holder's own decision races too.
      const [holder, other] = round % 2 === 0 ? [a, b] : [b, a];
      const answer = heldPost(holder, bot, path);
      const id = await heldOn(other, path);
      const [approve, deny] = await Promise.all([
        admin(holder, `/approvals/${id}/approve`, { who: "alice" }),
        admin(other, `/approvals/${id}/deny`, { who: "bob" }),
      ]);
      const statuses = [approve.status, deny.status].sort();
      deepEqual(statuses, [200, 404], `round ${round}: ${approve.status}/${deny.status}`);
      const got = await answer;
      equal(got, approve.status === 200 ? 200 : 403, `round ${round}: the agent got ${got}`);
      equal(upstream.seen.some((s) => s.path === path), approve.status === 200);
    }
  });
});

Deno.test({
  name: "store: a held request whose gateway is killed is abandoned, never approved",
  ignore: !postgresAvailable(),
}, async () => {
  await withTwoGateways({ extra: HUMAN_WRITES }, async (a, b, store, upstream, bot) => {
    const answer = heldPost(a, bot, "/orphan").catch(() => "no answer");
    const id = await heldOn(b, "/orphan");
    await killHard(a.served);
    const killedAt = performance.now();
    equal(await answer, "no answer");
    await eventually(
      "B to drop the dead gateway's request",
      async () => {
        const list = (await admin(b, "/approvals")).json.approvals as Listed;
        return list.length === 0 ? true : undefined;
      },
      20_000,
      100,
    );
    const droppedMs = performance.now() - killedAt;
    ok(droppedMs < 6_000, `B listed the dead gateway's request for ${droppedMs} ms`);
    // Within seconds nobody can decide it, before it is even marked abandoned.
    const late = await admin(b, `/approvals/${id}/approve`, { who: "alice" });
    equal(late.status, 404);
    await eventually(
      "the request to be marked abandoned",
      async () => {
        const state = await store.pg.sql(
          `SELECT state FROM clawpatrol_approvals WHERE id = '${id}'`,
          "clawpatrol",
        );
        return state.trim() === "abandoned" ? true : undefined;
      },
      20_000,
      200,
    );
    ok(!upstream.seen.some((s) => s.path === "/orphan"));
    const status = await storeCli(b.config, store, ["store", "status"]);
    match(status.stdout, /approvals waiting: 0/);
    match(status.stdout, /gateway gw_[0-9a-f]{16}: not seen/);
    match(status.stdout, /gateway gw_[0-9a-f]{16}: up/);
  });
});
