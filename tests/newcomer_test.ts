// A newcomer on a fresh machine, README only: the five-minute start's block, extracted from
// README.md and run line by line as typed, in a fresh copy of the checkout with its own HOME
// (so a fresh state directory), with the real psql and curl. It must reach the denied DROP TABLE
// with its receipt, then the held HTTPS write approved (with the CLI, then in the dashboard in
// chromium). Prints the command count and wall time.
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REPO, withTempDir } from "./_helpers.ts";
import { APP_FILES } from "./_installed.ts";
import { cleanEnv, commandsOf, denoDir, readmeBlock, Shell } from "./_readme.ts";
import { findPostgresBin } from "../src/cli/_quickstart_pg.ts";
import { isolationAvailable } from "./_isolate_fixture.ts";
import { NO_BROWSER } from "./_dashboard_browser.ts";
import { runDashboardStep } from "./_newcomer_dashboard.ts";

const APPROVAL_ID = /apr_[0-9a-f]{20}/;

async function freshClone(root: string): Promise<string> {
  const clone = join(root, "clawpatrol");
  await Deno.mkdir(clone);
  for (const name of APP_FILES) {
    const cp = await new Deno.Command("cp", { args: ["-R", join(REPO, name), clone] }).output();
    equal(cp.code, 0, `copy ${name}`);
  }
  return clone;
}

/** A temporary directory PostgreSQL's own user can reach when we are root. */
async function sharedTmp(root: string): Promise<string> {
  const tmp = join(root, "tmp");
  await Deno.mkdir(tmp);
  await Deno.chmod(root, 0o755);
  await Deno.chmod(tmp, 0o1777);
  return tmp;
}

Deno.test({
  name: "the README's five-minute start, typed literally, denies DROP TABLE with a receipt",
  ignore: findPostgresBin() === null,
  // The dashboard step's chromium keeps sockets open between steps.
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const start = await readmeBlock("newcomer");
  const approval = await readmeBlock("newcomer-approval");
  const isolate = await readmeBlock("newcomer-isolate");
  const dashboard = await readmeBlock("newcomer-dashboard");
  const commands = commandsOf(start);
  ok(commands.length <= 6, `the five-minute start is ${commands.length} commands, not ≤ 6`);
  await withTempDir(async (root) => {
    const home = join(root, "home");
    await Deno.mkdir(home);
    const tmp = await sharedTmp(root);
    const shell = new Shell({
      cwd: await freshClone(root),
      env: cleanEnv({ HOME: home, TMPDIR: tmp, DENO_DIR: await denoDir() }),
    });
    let quickstartPid: string | undefined;
    try {
      const began = performance.now();
      const results = [];
      for (const command of commands) {
        const ran = await shell.run(command);
        results.push(ran);
        if (/quickstart &\s*(#.*)?$/.test(command)) {
          quickstartPid = (await shell.run("echo $!")).stdout.trim();
        }
      }
      const seconds = (performance.now() - began) / 1000;
      results.slice(0, -1).forEach((ran, i) =>
        equal(ran.status, 0, `${commands[i]}: ${ran.stderr}`)
      );
      const [select, drop] = results.slice(-2);
      equal(select.status, 0, select.stderr);
      match(select.stdout, /ada[\s\S]*grace/);
      equal(drop.status, 1, "psql fails the denied statement");
      match(drop.stderr, /ERROR: +denied by clawpatrol: Schema changes land via migration PR/);
      const receipt = drop.stderr.match(/receipt (rcpt_\w+), rule pg-no-ddl/)?.[1];
      ok(receipt, drop.stderr);
      console.log(
        `five-minute start: ${commands.length} commands, ${
          seconds.toFixed(1)
        } s from a fresh clone to the denied DROP TABLE`,
      );
      // The receipt is in the log as a deny, and the table was never touched.
      const log = await shell.run("clawpatrol log --json");
      // One JSON object a line (the quickstart, in the background, prints to the same terminal).
      const rows = log.stdout.split("\n").filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l)
      );
      const denied = rows.find((r: { id: string }) => r.id === receipt);
      equal(denied?.verdict, "deny");
      equal(denied?.rule, "pg-no-ddl");
      match((await shell.run("psql -At -c 'SELECT count(*) FROM users'")).stdout, /^2$/m);

      await runApproval(shell, commandsOf(approval));
      // CI installs chromium (.ci/run); without it the browser step cannot be followed here.
      if (NO_BROWSER === undefined) await runDashboardStep(shell, commandsOf(dashboard));
      // As root (CI is) the isolated run's privileged step runs without sudo.
      if (isolationAvailable()) await runIsolated(shell, commandsOf(isolate));
    } finally {
      if (quickstartPid) await stopQuickstart(shell, quickstartPid, tmp);
      await shell.close();
    }
  });
});

/** The held write: curl waits; the listed ID is approved; curl gets the demo API's answer. */
async function runApproval(shell: Shell, commands: string[]) {
  let id = "";
  for (const command of commands) {
    if (/approvals list/.test(command)) {
      // The hold exists once curl's request reached the gateway: wait for that, not for a time.
      const deadline = Date.now() + 60_000;
      while (!id && Date.now() < deadline) {
        const listed = await shell.run("clawpatrol approvals list --json");
        id = listed.stdout.match(APPROVAL_ID)?.[0] ?? "";
      }
      ok(id, "curl's POST is held for approval");
    }
    // The README shows an example ID; a reader types the one `approvals list` printed.
    const ran = await shell.run(command.replace(APPROVAL_ID, id));
    equal(ran.status, 0, `${command}: ${ran.stderr}`);
    if (/approvals approve/.test(command)) match(ran.stdout, /^Approved apr_\w+ as cli:/m);
    if (/^clawpatrol log/.test(command)) {
      match(ran.stdout, /allow +demo demo_api demo-api-writes "POST api.demo.test\/issues"/);
    }
  }
  await shell.waitFor("curl's answer", (out) => /"title":"flaky test"/.test(out));
}

/**
 * The isolated run: psql and curl by the endpoints' own names work, with no proxy and no
 * password; an address no endpoint has is out of reach.
 */
async function runIsolated(shell: Shell, commands: string[]) {
  equal(commands.length, 1);
  const ran = await shell.run(commands[0]);
  equal(ran.status, 0, ran.stderr);
  const lines = ran.stdout.trim().split("\n");
  equal(lines[0], "2", ran.stdout + ran.stderr);
  match(lines[1], /"first issue"/);
  equal(lines.at(-1), "no way around the gateway");
  match(ran.stderr, /Failed to connect to 1\.1\.1\.1|Couldn't connect/);
  // What the run's root step left on this host for the quickstart's ranges goes again.
  const config = await shell.run(`cat "$CLAWPATROL_CONFIG"`);
  const range = (name: string) =>
    config.stdout.match(new RegExp(`${name}_range *= *"([^"]+)"`))![1];
  const [vip, link] = [range("vip"), range("link")];
  const script = join(REPO, "isolate.sh");
  await new Deno.Command("sh", {
    args: [script, "unprepare", "--vip-range", vip, "--link-range", link],
  }).output();
}

/** SIGTERM, as `kill %1` sends: the quickstart must remove the database it started. */
async function stopQuickstart(shell: Shell, pid: string, tmp: string) {
  await shell.run(`kill ${pid}; wait ${pid}`);
  const left = [...Deno.readDirSync(tmp)].filter((e) => e.name.startsWith("clawpatrol-quickstart"));
  equal(left.length, 0, "the throwaway PostgreSQL's directory is removed");
}
