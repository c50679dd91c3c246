/**
 * Signing in and out. The sign-in form takes the admin token or a one-time code from
 * `clawpatrol dashboard`, and the operator's name; success sets the session cookie (HttpOnly,
 * SameSite=Strict, with Max-Age) and sends the browser where it was going.
 *
 * @module
 */

import { readLimited } from "../core/mod.ts";
import { type Html, html } from "./_html.ts";
import { frame } from "./_layout.ts";
import { htmlResponse, seeOther } from "./_respond.ts";
import type { Sessions } from "./_sessions.ts";

/** The session cookie's name. */
export const SESSION_COOKIE = "cp_session";
/** A form post is small: a token, a name, a reason. */
export const MAX_FORM_BYTES = 16 * 1024;
/** Where a sign-in may send the browser back to: dashboard pages only, never another site. */
const NEXT_PATTERN = /^\/(ui\/[A-Za-z0-9_/.-]*)?$/;

const MESSAGES = {
  invalid: "That token or code is not valid (codes work once, for five minutes), or the name " +
    "is not 1 to 64 letters, digits, '.', '_' or '-'.",
  throttled: "Too many failed sign-ins: wait a minute.",
  origin: "Sign in from the dashboard's own page.",
  expired: "",
} as const;

/** The sign-in page; `status` is 401 for a page asked for without a session. */
export function signinPage(next: string, problem?: keyof typeof MESSAGES, status = 200) {
  const message = problem && MESSAGES[problem]
    ? html`<p class="error" role="alert" id="signin-error">${MESSAGES[problem]}</p>`
    : "";
  const body: Html = html`<main id="main" class="signin">
<h1>Sign in to clawpatrol</h1>
${message}
<form method="post" action="/ui/signin">
  <input type="hidden" name="next" value="${safeNext(next)}">
  <p><label for="secret">Admin token or one-time code</label><br>
  <input id="secret" name="secret" type="password" autocomplete="off" required size="52"></p>
  <p><label for="name">Your name (recorded on every decision as dashboard:NAME)</label><br>
  <input id="name" name="name" required maxlength="64" pattern="[A-Za-z0-9._\\-]{1,64}"
    autocomplete="username"></p>
  <p><button type="submit">Sign in</button></p>
</form>
<p class="hint">Run <code>clawpatrol dashboard</code> on the gateway host for a one-time code,
or use the admin token in <code>state_dir/admin.token</code>.</p>
</main>`;
  return htmlResponse(frame("Sign in", body), status);
}

/** Handles `POST /ui/signin`. */
export async function signIn(
  req: Request,
  sessions: Sessions,
  log?: (level: "info" | "warn", message: string) => void,
): Promise<Response> {
  const form = await readForm(req);
  const next = safeNext(form?.get("next") ?? "/");
  if (!sameOrigin(req)) return signinPage(next, "origin", 403);
  if (form === null) return signinPage(next, "invalid", 400);
  const name = (form.get("name") ?? "").trim();
  const result = sessions.signIn(form.get("secret") ?? "", name);
  if (!result.ok) {
    log?.("warn", `dashboard: refused a sign-in (${result.why})`);
    return signinPage(next, result.why, result.why === "throttled" ? 429 : 401);
  }
  log?.("info", `dashboard: ${name} signed in`);
  return seeOther(next, {
    "set-cookie":
      `${SESSION_COOKIE}=${result.id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${sessions.maxAgeSeconds}${
        new URL(req.url).protocol === "https:" ? "; Secure" : ""
      }`,
  });
}

/** Ends the session and clears the cookie. */
export function signOut(sessions: Sessions, id: string | undefined): Response {
  sessions.end(id);
  return seeOther("/ui/signin", {
    "set-cookie": `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`,
  });
}

/** The session id in the request's cookies, if any. */
export function sessionCookie(req: Request): string | undefined {
  const header = req.headers.get("cookie") ?? "";
  for (const part of header.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === SESSION_COOKIE) return rest.join("=") || undefined;
  }
  return undefined;
}

/**
 * Whether a state-changing request comes from the dashboard's own pages: a browser says where
 * a request comes from (`Sec-Fetch-Site`, `Origin`); a client that says nothing still needs the
 * CSRF token.
 */
export function sameOrigin(req: Request): boolean {
  const site = req.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return false;
  const origin = req.headers.get("origin");
  return origin === null || origin === new URL(req.url).origin;
}

/** A form body (urlencoded), or `null` when it is too large or not a form. */
export async function readForm(req: Request): Promise<URLSearchParams | null> {
  const type = req.headers.get("content-type") ?? "";
  if (!type.startsWith("application/x-www-form-urlencoded")) {
    await req.body?.cancel();
    return null;
  }
  const bytes = await readLimited(req.body, MAX_FORM_BYTES);
  if (bytes === null) return null;
  return new URLSearchParams(new TextDecoder().decode(bytes));
}

function safeNext(next: string): string {
  return NEXT_PATTERN.test(next) ? next : "/";
}
