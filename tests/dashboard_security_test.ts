/**
 * The dashboard's doors: without a session every page answers with the sign-in form and every
 * API call with 401; sign-in takes the admin token or a one-time code from `clawpatrol
 * dashboard` (once); the session cookie is HttpOnly and SameSite=Strict with an expiry; a state
 * change without the CSRF token, or from another origin, is refused; pages carry a strict CSP
 * and no inline script.
 */

import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { join } from "node:path";
import { type ProxyFixture, withProxy } from "./_proxy_fixture.ts";
import { cli } from "./_helpers.ts";
import {
  adminBase,
  adminToken,
  BROWSER_TEST,
  screenshot,
  withBrowser,
} from "./_dashboard_browser.ts";
import { curlOutcome, curlPost } from "./_curl.ts";
import { eventually } from "./_helpers.ts";

const PAGES = [
  "/",
  "/ui/approvals",
  "/ui/rules",
  "/ui/receipts/rcpt_01ABC",
  "/ui/agents",
  "/ui/health",
  "/ui/nope",
];
const API = ["/ui/api/feed", "/ui/api/receipts", "/ui/api/approvals"];

/** Signs in over plain HTTP as a browser would; returns the session cookie pair and CSRF token. */
async function session(base: string, secret: string, name = "alice") {
  const res = await fetch(`${base}/ui/signin`, {
    method: "POST",
    redirect: "manual",
    headers: { "content-type": "application/x-www-form-urlencoded", origin: base },
    body: new URLSearchParams({ secret, name, next: "/ui/approvals" }),
  });
  await res.body?.cancel();
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0];
  const page = await (await fetch(`${base}/ui/approvals`, { headers: { cookie } })).text();
  const csrf = /data-csrf="([^"]+)"/.exec(page)?.[1] ?? "";
  return { res, setCookie, cookie, csrf };
}

function held(fx: ProxyFixture) {
  return eventually("a held request", () => fx.gateway.approvalQueue.list()[0]);
}

const HOLD = `
approver "human_approver" "ops" {
  timeout = "60s"
}
rule "writes-need-approval" {
  endpoint  = https.api
  condition = "http.method == 'post'"
  approve   = [human_approver.ops]
}`;

Deno.test("without a session, pages answer 401 with the sign-in form and API calls 401 JSON", async () => {
  await withProxy({}, async (fx) => {
    const base = adminBase(fx.gateway.adminAddress.port);
    for (const path of PAGES) {
      const res = await fetch(base + path);
      const text = await res.text();
      assertEquals(res.status, 401, path);
      assert(text.includes('action="/ui/signin"'), path);
      assert(!text.includes("data-csrf"), path);
    }
    for (const path of API) {
      const res = await fetch(base + path);
      assertEquals(
        [res.status, (await res.json()).error.startsWith("unauthorized")],
        [401, true],
        path,
      );
    }
    const post = await fetch(`${base}/ui/api/approvals/apr_x/approve`, {
      method: "POST",
      body: "{}",
    });
    assertEquals(post.status, 401);
    await post.body?.cancel();
    // A forged cookie is no session.
    const forged = await fetch(`${base}/ui/api/receipts`, {
      headers: { cookie: "cp_session=abc" },
    });
    assertEquals(forged.status, 401);
    await forged.body?.cancel();
    // The admin API's JSON routes are unchanged, and still want the bearer token.
    const approvals = await fetch(`${base}/approvals`);
    assertEquals(approvals.status, 401);
    await approvals.body?.cancel();
  });
});

Deno.test("sign-in: a wrong token is refused, the admin token gives an HttpOnly SameSite=Strict cookie with an expiry", async () => {
  await withProxy({}, async (fx) => {
    const base = adminBase(fx.gateway.adminAddress.port);
    const wrong = await session(base, "cpadm_" + "A".repeat(43));
    assertEquals([wrong.res.status, wrong.setCookie], [401, ""]);
    const bad = await session(base, adminToken(fx.dir), "<script>");
    assertEquals([bad.res.status, bad.setCookie], [401, ""], "names are 1-64 plain characters");
    const ok = await session(base, adminToken(fx.dir));
    assertEquals(ok.res.status, 303);
    assertEquals(ok.res.headers.get("location"), "/ui/approvals");
    assert(/^cp_session=[A-Za-z0-9_-]{43}$/.test(ok.cookie), ok.cookie);
    for (const attribute of ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"]) {
      assert(ok.setCookie.includes(attribute), `${attribute} in ${ok.setCookie}`);
    }
    assert(
      !fx.log.lines.some((l) => JSON.stringify(l).includes(adminToken(fx.dir))),
      "token logged",
    );
    // Signing out ends the session on the server, not only in the browser.
    const out = await fetch(`${base}/ui/signout`, {
      method: "POST",
      redirect: "manual",
      headers: {
        cookie: ok.cookie,
        "content-type": "application/x-www-form-urlencoded",
        origin: base,
      },
      body: new URLSearchParams({ csrf: ok.csrf }),
    });
    assertEquals(out.status, 303);
    await out.body?.cancel();
    const after = await fetch(`${base}/ui/api/receipts`, { headers: { cookie: ok.cookie } });
    assertEquals(after.status, 401);
    await after.body?.cancel();
  });
});

Deno.test("clawpatrol dashboard prints the URL and a one-time code that signs in once", async () => {
  await withProxy({}, async (fx) => {
    const base = adminBase(fx.gateway.adminAddress.port);
    const run = await cli(["-c", join(fx.dir, "gateway.hcl"), "dashboard", "--admin-url", base]);
    assertEquals(run.code, 0, run.stderr);
    const code = /One-time code \(works once, for 5 minutes\): ([A-Z0-9-]+)$/m.exec(run.stdout)
      ?.[1];
    assert(code, run.stdout);
    assert(run.stdout.includes(`Sign in:   ${base}/ui/signin#code=${code}`), run.stdout);
    assert(!run.stdout.includes(adminToken(fx.dir)), "the admin token is never printed");
    const first = await session(base, code.toLowerCase(), "bob");
    assertEquals(first.res.status, 303, "codes are not case-sensitive");
    const again = await session(base, code, "mallory");
    assertEquals(again.res.status, 401, "a code works once");
    // Without the admin token, no code.
    const anonymous = await fetch(`${base}/ui/api/codes`, { method: "POST" });
    assertEquals(anonymous.status, 401);
    await anonymous.body?.cancel();
  });
});

Deno.test("a state change without the CSRF token, or from another origin, is refused and decides nothing", async () => {
  await withProxy({ rules: HOLD }, async (fx) => {
    const base = adminBase(fx.gateway.adminAddress.port);
    const { cookie, csrf } = await session(base, adminToken(fx.dir));
    assert(csrf.length > 20);
    const curl = curlPost(fx, { url: "https://api.test/echo" });
    const { request } = await held(fx);
    const attempts: [string, RequestInit][] = [
      ["API, no token", { headers: { cookie } }],
      // One character changed: a fixed "x" would be the token itself whenever it starts with one.
      ["API, wrong token", {
        headers: { cookie, "x-csrf-token": (csrf[0] === "x" ? "y" : "x") + csrf.slice(1) },
      }],
      ["API, other origin", {
        headers: { cookie, "x-csrf-token": csrf, origin: "http://evil.test" },
      }],
      ["API, cross-site fetch", {
        headers: { cookie, "x-csrf-token": csrf, "sec-fetch-site": "cross-site" },
      }],
    ];
    for (const [what, init] of attempts) {
      const res = await fetch(`${base}/ui/api/approvals/${request.id}/deny`, {
        method: "POST",
        ...init,
        body: "{}",
      });
      assertEquals(res.status, 403, what);
      await res.body?.cancel();
    }
    const form = await fetch(`${base}/ui/approvals/${request.id}`, {
      method: "POST",
      redirect: "manual",
      headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ decision: "deny", reason: "forged" }),
    });
    assertEquals(form.status, 403, "form without csrf");
    await form.body?.cancel();
    assertEquals(fx.gateway.approvalQueue.list().length, 1, "still held");
    // With the token, the same call decides, as dashboard:<name>.
    const res = await fetch(`${base}/ui/api/approvals/${request.id}/approve`, {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf, "content-type": "application/json" },
      body: JSON.stringify({ reason: "ok" }),
    });
    assertEquals(await res.json(), { result: "approved", id: request.id, who: "dashboard:alice" });
    assertEquals((await curlOutcome(curl)).status, 200);
  });
});

Deno.test({
  ...BROWSER_TEST,
  name: "in a browser: every page leads to sign-in; pages carry a strict CSP, no inline script",
  fn: () =>
    withProxy({}, (fx) =>
      withBrowser(async (browser) => {
        const page = await browser.newPage();
        const base = adminBase(fx.gateway.adminAddress.port);
        for (const path of PAGES) {
          const res = await page.goto(base + path);
          assertEquals(res?.status(), 401, path);
          assertEquals(await page.$eval("h1", (h) => h.textContent), "Sign in to clawpatrol");
        }
        await screenshot(page, "signin");
        const res = await page.goto(`${base}/`);
        const csp = res?.headers()["content-security-policy"] ?? "";
        for (
          const directive of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'"]
        ) {
          assert(csp.includes(directive), csp);
        }
        const inline = await page.$$eval("script", (ss) => ss.filter((s) => !s.src).length);
        assertEquals(inline, 0);
      })),
});
