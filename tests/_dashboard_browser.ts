/**
 * A real browser for the dashboard tests: Debian's chromium driven by puppeteer-core (no browser
 * download), one per test, closed whatever happens; screenshots go to a directory the tests
 * create. Tests are ignored, saying why, where chromium is not installed.
 *
 * @module
 */

import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { readAdminTokenFile } from "../src/admin/mod.ts";

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The chromium executable, or undefined when none is installed. */
export const CHROMIUM: string | undefined = CANDIDATES.find((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** Why browser tests are ignored here (printed once), or undefined when they run. */
export const NO_BROWSER = CHROMIUM === undefined
  ? "chromium is not installed (apt-get install chromium): dashboard browser tests ignored"
  : undefined;
if (NO_BROWSER) console.warn(NO_BROWSER);

/** Where screenshots go: `$CLAWPATROL_SCREENSHOTS`, else a fixed directory under the temp dir. */
export const SCREENSHOTS = Deno.env.get("CLAWPATROL_SCREENSHOTS") ||
  join(Deno.env.get("TMPDIR") || "/tmp", "clawpatrol-dashboard-screenshots");

/** Saves a full-page screenshot as `SCREENSHOTS/NAME.png`; with `docs`, also in docs/ when asked. */
export async function screenshot(page: Page, name: string): Promise<string> {
  await Deno.mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  for (let attempt = 1;; attempt++) {
    // A full-page shot sizes itself from the layout, which reads 0 wide for a moment while a
    // page (re)loads on a busy machine: chromium then refuses the shot. Wait for a layout.
    await page.waitForFunction("document.documentElement.scrollWidth > 0", { timeout: 10_000 });
    try {
      await page.screenshot({ path: path as `${string}.png`, fullPage: true });
      break;
    } catch (error) {
      if (attempt >= 3 || !/0 width/.test(String(error))) throw error;
    }
  }
  // The README's pictures are refreshed on request only: a test run leaves the tree alone.
  if (Deno.env.get("CLAWPATROL_UPDATE_DOCS_SCREENSHOTS") === "1") {
    const docs = new URL("../docs/", import.meta.url).pathname;
    await Deno.mkdir(docs, { recursive: true });
    await Deno.copyFile(path, join(docs, `dashboard-${name}.png`));
  }
  return path;
}

/** Runs `fn` with a fresh headless chromium (its own profile directory), closed afterwards. */
export async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const profile = await Deno.makeTempDir({ prefix: "clawpatrol_chromium_" });
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM!,
    headless: true,
    defaultViewport: { width: 1280, height: 720 },
    userDataDir: profile,
    // Root in CI cannot use chromium's sandbox; the pages are our own, on loopback.
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-proxy-server"],
  });
  try {
    await fn(browser);
  } finally {
    const child = browser.process();
    await browser.close().catch(() => {});
    // close() ends the process; make sure of it, so no chromium outlives its test.
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

/** The admin token of a gateway whose state directory is `dir/state`. */
export function adminToken(dir: string): string {
  return readAdminTokenFile(join(dir, "state", "admin.token"));
}

/** The admin listener's base URL. */
export function adminBase(port: number): string {
  return `http://127.0.0.1:${port}`;
}

/** Signs in through the form, as a person would; resolves on the page signed in to. */
export async function signIn(page: Page, base: string, secret: string, name: string) {
  await page.goto(`${base}/`);
  await page.waitForSelector("#secret");
  await page.type("#secret", secret);
  await page.type("#name", name);
  await Promise.all([page.waitForNavigation(), page.click("button[type=submit]")]);
}

/** Waits until `predicate` (run in the page) is true; generous: it is arrival that is tested. */
export async function waitInPage(
  page: Page,
  predicate: string,
  timeoutMs = 15_000,
): Promise<void> {
  await page.waitForFunction(predicate, { timeout: timeoutMs, polling: "mutation" });
}

/** The options every browser test shares: resources outlive steps (the browser's sockets). */
export const BROWSER_TEST = {
  ignore: CHROMIUM === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
};
