// Dashboard and Slack decisions through the shared store (issue 24): a request held on gateway A
// is approved in gateway B's dashboard (a plain form post with session and CSRF token) and A
// releases it within a second, its receipt naming `dashboard:<operator>`; a dashboard decision
// racing a CLI decision on the other gateway has exactly one winner and the loser is told it
// was already decided; a signed Slack click posted to B's interactivity endpoint decides a
// request held on A, and a click by someone off the approver list decides nothing.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { postgresAvailable } from "./_postgres.ts";
import type { Upstream } from "./_crash_load.ts";
import { admin, type Gw, heldPost, withTwoGateways } from "./_two_gateways.ts";
import { eventually } from "./_helpers.ts";
import { openVault } from "../src/credentials/mod.ts";
import { buttonValue } from "../src/approvals/slack.ts";
import { interactivityRequest } from "./_slack_fakes.ts";
import { type SharedStore, storeCli } from "./_shared_store.ts";

const SIGNING = "slack-signing-secret-store-4b1d";

/** POSTs wait for `human_approver.ops`, which takes Slack clicks from U1 only. */
const HUMAN_WRITES = `credential "slack_tokens" "slack" {}
approver "human_approver" "ops" {
  slack_channel = "#agent-ops"
  credential    = slack_tokens.slack
  approvers     = ["U1"]
  timeout       = "2m"
}
rule "api-writes" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  approve   = [human_approver.ops]
}
`;

/** Two gateways on one store with the Slack signing secret in both vaults (and in no log). */
async function withSlackGateways(
  fn: (a: Gw, b: Gw, store: SharedStore, upstream: Upstream, bot: string) => Promise<void>,
): Promise<void> {
  const prepare = async (dir: string) => {
    // Only the signing secret: no bot or app token, so nothing reaches the real Slack.
    const vault = await openVault(join(dir, "state"));
    await vault.set("slack", "signing", SIGNING).finally(() => vault.close());
  };
  await withTwoGateways({ extra: HUMAN_WRITES, prepare }, async (a, b, store, upstream, bot) => {
    await fn(a, b, store, upstream, bot);
    for (const gw of [a, b]) {
      ok(!gw.served.gw.log.includes(SIGNING), "the signing secret is in a log");
    }
  });
}

type Listed = { id: string; summary: string; fingerprint: string }[];

/** The request whose summary names `path`, once `gw` lists it. */
async function heldOn(gw: Gw, path: string): Promise<Listed[number]> {
  return await eventually(
    `${path} to be listed`,
    async () => {
      const list = (await admin(gw, "/approvals")).json.approvals as Listed;
      return list.find((p) => p.summary.includes(path));
    },
    10_000,
    20,
  );
}

/** A dashboard session on `gw` for `name`: its cookie and CSRF token. */
async function dashboardSession(gw: Gw, name: string) {
  const base = gw.served.admin;
  const signin = await fetch(`${base}/ui/signin`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ secret: gw.token, name, next: "/ui/approvals" }),
    redirect: "manual",
  });
  await signin.body?.cancel();
  equal(signin.status, 303);
  const cookie = signin.headers.get("set-cookie")!.split(";")[0];
  const page = await fetch(`${base}/ui/approvals`, { headers: { cookie } });
  const csrf = (await page.text()).match(/data-csrf="([^"]+)"/)![1];
  return { base, cookie, csrf };
}

type Session = Awaited<ReturnType<typeof dashboardSession>>;

/** The approvals page's form post; resolves with the `result` it redirects to. */
async function formDecision(s: Session, id: string, decision: "approve" | "deny") {
  const res = await fetch(`${s.base}/ui/approvals/${id}`, {
    method: "POST",
    headers: {
      cookie: s.cookie,
      origin: s.base,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({ decision, reason: "looked fine", csrf: s.csrf }),
    redirect: "manual",
  });
  await res.body?.cancel();
  equal(res.status, 303);
  return new URL(res.headers.get("location")!, s.base).searchParams.get("result");
}

/** A signed Slack click by `user` on request `held`, posted to `gw`'s interactivity endpoint. */
async function slackClick(gw: Gw, held: Listed[number], user: string, action: string) {
  const payload = {
    type: "block_actions",
    user: { id: user },
    container: { type: "message", message_ts: "1700000000.000100", channel_id: "CAGENTOPS" },
    channel: { id: "CAGENTOPS" },
    actions: [{ action_id: action, value: buttonValue(held), type: "button" }],
  };
  const req = await interactivityRequest(
    `${gw.served.admin}/slack/interactivity`,
    SIGNING,
    payload,
  );
  const res = await fetch(req);
  await res.body?.cancel();
  return res.status;
}

/** The receipt of the held POST to `path`, as `clawpatrol log --json` prints it on `config`. */
async function receiptOf(config: string, store: SharedStore, path: string): Promise<string> {
  let last = "";
  try {
    return await eventually(
      `the receipt of ${path}`,
      async () => {
        const log = await storeCli(config, store, ["log", "--json", "--limit", "50"]);
        last = log.stdout + log.stderr;
        return log.stdout.split("\n").find((l) => l.includes(path) && l.includes('"who"'));
      },
      10_000,
      100,
    );
  } catch (err) {
    throw new Error(`${err}: ${last.slice(-2000)}`);
  }
}

Deno.test({
  name: "store: a request held on A is approved in B's dashboard and released on A",
  ignore: !postgresAvailable(),
}, async () => {
  await withSlackGateways(async (a, b, store, upstream, bot) => {
    const session = await dashboardSession(b, "alice");
    const answer = heldPost(a, bot, "/dash-held-on-a");
    const held = await heldOn(b, "/dash-held-on-a");
    // B's approvals page lists what A holds.
    const page = await (await fetch(`${b.served.admin}/ui/approvals`, {
      headers: { cookie: session.cookie },
    })).text();
    ok(page.includes(held.id), "B's approvals page does not list the request held on A");
    const decidedAt = performance.now();
    equal(await formDecision(session, held.id, "approve"), "approved");
    await eventually(
      "A to release the request",
      async () => {
        const list = (await admin(a, "/approvals")).json.approvals as Listed;
        return list.length === 0 ? true : undefined;
      },
      5_000,
      10,
    );
    const releaseMs = performance.now() - decidedAt;
    ok(releaseMs < 1_000, `A released ${releaseMs} ms after B's dashboard decided`);
    equal(await answer, 200);
    ok(upstream.seen.some((s) => s.method === "POST" && s.path === "/dash-held-on-a"));
    match(await receiptOf(a.config, store, "/dash-held-on-a"), /"who":"dashboard:alice"/);
    // Decided: a second click finds it gone (not a second decision).
    equal(await formDecision(session, held.id, "deny"), "already");

    // A deny from B's dashboard reaches the agent on A as the deny.
    const denied = heldPost(a, bot, "/dash-denied");
    const second = await heldOn(b, "/dash-denied");
    equal(await formDecision(session, second.id, "deny"), "denied");
    equal(await denied, 403);
    ok(!upstream.seen.some((s) => s.path === "/dash-denied"));
  });
});

Deno.test({
  name: "store: a dashboard decision racing a CLI decision elsewhere: one wins, one is told",
  ignore: !postgresAvailable(),
}, async () => {
  await withSlackGateways(async (a, b, _store, upstream, bot) => {
    const session = await dashboardSession(b, "bob");
    for (let round = 0; round < 4; round++) {
      const path = `/dash-race-${round}`;
      // Held on A in even rounds (the dashboard is the other gateway's), on B in odd ones.
      const holder = round % 2 === 0 ? a : b;
      const answer = heldPost(holder, bot, path);
      const { id } = await heldOn(a, path);
      await heldOn(b, path);
      const [viaDashboard, viaCli] = await Promise.all([
        fetch(`${session.base}/ui/api/approvals/${id}/approve`, {
          method: "POST",
          headers: { cookie: session.cookie, origin: session.base, "x-csrf-token": session.csrf },
          body: JSON.stringify({ reason: "" }),
        }).then(async (res) => ({ status: res.status, json: await res.json() })),
        admin(a, `/approvals/${id}/deny`, { who: "carol" }),
      ]);
      const dashboardWon = viaDashboard.status === 200;
      deepEqual(
        [viaDashboard.status, viaCli.status],
        dashboardWon ? [200, 404] : [409, 200],
        `round ${round}: ${JSON.stringify([viaDashboard, viaCli])}`,
      );
      if (dashboardWon) {
        equal(viaDashboard.json.result, "approved");
        match(String(viaCli.json.error), /already decided/);
      } else {
        equal(viaDashboard.json.result, "already");
      }
      equal(await answer, dashboardWon ? 200 : 403, `round ${round}`);
      equal(upstream.seen.some((s) => s.path === path), dashboardWon);
    }
    const logB = b.served.gw.log;
    ok(
      /was too late, it was already denied by cli:carol/.test(logB) ||
        /approval apr_\w+: allow by dashboard:bob/.test(logB),
      "B's log names neither outcome",
    );
  });
});

Deno.test({
  name: "store: a Slack click on B decides a request held on A; an unlisted user's does not",
  ignore: !postgresAvailable(),
}, async () => {
  await withSlackGateways(async (a, b, store, upstream, bot) => {
    const answer = heldPost(a, bot, "/slack-held-on-a");
    const held = await heldOn(b, "/slack-held-on-a");
    // Off the approver list, or with a fingerprint of another request: nothing is decided.
    equal(await slackClick(b, held, "U9", "clawpatrol_approve"), 200);
    const forged = { ...held, fingerprint: "0".repeat(64) };
    equal(await slackClick(b, forged, "U1", "clawpatrol_approve"), 200);
    await eventually(
      "B to log both ignored clicks",
      () =>
        /ignored a click by slack:U9: you are not on the approver list/.test(b.served.gw.log) &&
          /ignored a click: its fingerprint does not match/.test(b.served.gw.log) || undefined,
      5_000,
      20,
    );
    deepEqual(((await admin(a, "/approvals")).json.approvals as Listed).map((p) => p.id), [
      held.id,
    ]);
    // U1's click on B releases it on A.
    equal(await slackClick(b, held, "U1", "clawpatrol_approve"), 200);
    equal(await answer, 200);
    ok(upstream.seen.some((s) => s.method === "POST" && s.path === "/slack-held-on-a"));
    match(await receiptOf(a.config, store, "/slack-held-on-a"), /"who":"slack:U1"/);
  });
});

Deno.test({
  name: "store: a dashboard decision while the store does not answer decides nothing (503)",
  ignore: !postgresAvailable(),
}, async () => {
  await withSlackGateways(async (a, b, store, upstream, bot) => {
    const session = await dashboardSession(b, "dana");
    const answer = heldPost(a, bot, "/dash-store-down");
    const held = await heldOn(b, "/dash-store-down");
    const decide = async () => {
      const res = await fetch(`${session.base}/ui/api/approvals/${held.id}/approve`, {
        method: "POST",
        headers: { cookie: session.cookie, origin: session.base, "x-csrf-token": session.csrf },
        body: JSON.stringify({ reason: "" }),
      });
      return { status: res.status, json: await res.json() };
    };
    store.relay.hold();
    const refused = await decide();
    equal(refused.status, 503, JSON.stringify(refused.json));
    equal(refused.json.result, "unavailable");
    match(b.served.gw.log, new RegExp(`approval ${held.id}: cannot record the decision`));
    store.relay.pass();
    // Nothing was decided on either side: once the store answers, the request still waits.
    const approved = await eventually(
      "the decision to go through",
      async () => {
        const tried = await decide();
        return tried.status === 503 ? undefined : tried;
      },
      20_000,
      250,
    );
    equal(approved.status, 200, JSON.stringify(approved.json));
    equal(await answer, 200);
    ok(upstream.seen.some((s) => s.path === "/dash-store-down"));
    ok(!b.served.gw.log.includes(store.password), "the store's password is in B's log");
  });
});
