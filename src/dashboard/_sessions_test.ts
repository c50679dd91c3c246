import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { csrfMatches, Sessions } from "./_sessions.ts";

const TOKEN = "cpadm_" + "t".repeat(43);

function sessions(now: { t: number }) {
  return new Sessions({ tokenMatches: (p) => p === TOKEN, now: () => now.t, sessionTtlMs: 1000 });
}

Deno.test("a one-time code signs in once, not after it expires, in any case and spacing", () => {
  const now = { t: 0 };
  const s = sessions(now);
  const code = s.issueCode();
  assert(/^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/.test(code), code);
  assert(s.signIn(` ${code.toLowerCase().replaceAll("-", " ")} `, "alice").ok);
  assertEquals(s.signIn(code, "alice"), { ok: false, why: "invalid" });
  const late = s.issueCode();
  now.t = 5 * 60_000 + 1;
  assertEquals(s.signIn(late, "alice"), { ok: false, why: "invalid" });
});

Deno.test("sessions expire; ended sessions are gone; CSRF compares the session's token", () => {
  const now = { t: 0 };
  const s = sessions(now);
  const result = s.signIn(TOKEN, "alice");
  if (!result.ok) throw new Error("sign-in failed");
  assertEquals(s.get(result.id)?.name, "alice");
  assert(csrfMatches(result.session, result.session.csrf));
  assert(!csrfMatches(result.session, result.session.csrf + "x"));
  assert(!csrfMatches(result.session, null));
  now.t = 1000;
  assertEquals(s.get(result.id), undefined);
  const again = s.signIn(TOKEN, "bob");
  if (!again.ok) throw new Error("sign-in failed");
  s.end(again.id);
  assertEquals(s.get(again.id), undefined);
});

Deno.test("after ten failed sign-ins in a minute every attempt is refused until it passes", () => {
  const now = { t: 0 };
  const s = sessions(now);
  for (let i = 0; i < 10; i++) assertEquals(s.signIn("WRONG-CODE", "x").ok, false);
  assertEquals(s.signIn(TOKEN, "alice"), { ok: false, why: "throttled" });
  now.t = 60_001;
  assert(s.signIn(TOKEN, "alice").ok);
  assertEquals(s.signIn(TOKEN, "bad name").ok, false, "names are checked");
});
