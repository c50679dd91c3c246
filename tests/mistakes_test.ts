/**
 * The first mistakes of a new user, each answered with what to do: `init` (and `start`) inside a
 * git checkout, run as users run them (the installed launcher's grant), and psql with a wrong
 * agent token against a real PostgreSQL. (A second gateway on one state directory: the lock's
 * own tests, src/gateway/_state_lock_test.ts.)
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { cli, type CliResult, withTempDir } from "./_helpers.ts";
import { installLauncher } from "./_installed.ts";
import { pgClusterTest, withPgGateway } from "./_pg_fixture.ts";

function explain(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

const exists = (path: string) => Deno.stat(path).then(() => true, () => false);

/** A clone, to anything that looks for `.git` without running git. */
async function fakeClone(dir: string): Promise<string> {
  const repo = join(dir, "clone");
  await Deno.mkdir(join(repo, ".git"), { recursive: true });
  await Deno.writeTextFile(join(repo, ".git", "HEAD"), "ref: refs/heads/main\n");
  return repo;
}

Deno.test("init refuses a gateway directory inside a git checkout, saying why and what to do", async () => {
  await withTempDir(async (dir) => {
    const repo = await fakeClone(dir);
    const gw = join(repo, "gw");
    const r = await cli(["init", gw]);
    equal(r.code, 2, explain(r));
    equal(
      r.stderr.trim(),
      `Usage error: State directory '${gw}/state' would be inside the git work tree '${repo}', and no .gitignore there ignores it: one 'git add -A' would commit the vault with its key (master.key) and the admin token: put the gateway directory outside the checkout (clawpatrol init ~/clawpatrol-gateway), or, if git ignores it another way, run 'clawpatrol init --force ${gw}'`,
    );
    equal(await exists(gw), false, "nothing is written before the refusal");

    // What the message offers: --force when git ignores it in a way clawpatrol cannot read.
    const forced = await cli(["init", "--force", gw]);
    equal(forced.code, 0, explain(forced));
    ok(await exists(join(gw, "state", "master.key")));
  });
});

Deno.test("init inside a git checkout goes ahead when the checkout's .gitignore ignores it", async () => {
  await withTempDir(async (dir) => {
    const repo = await fakeClone(dir);
    await Deno.writeTextFile(join(repo, ".gitignore"), "node_modules/\n/gw/\n");
    const r = await cli(["init", join(repo, "gw")]);
    equal(r.code, 0, explain(r));
    ok(await exists(join(repo, "gw", "state", "master.key")));
  });
});

Deno.test("start refuses to init inside a git worktree (.git as a file) and writes nothing", async () => {
  await withTempDir(async (dir) => {
    const worktree = join(dir, "wt");
    await Deno.mkdir(worktree);
    await Deno.writeTextFile(join(worktree, ".git"), "gitdir: /elsewhere/.git/worktrees/wt\n");
    const config = join(worktree, "gateway.hcl");
    const r = await cli(["start", "-c", config, "--admin-listen", "127.0.0.1:0"]);
    equal(r.code, 2, explain(r));
    match(r.stderr, /would be inside the git work tree '.*\/wt'/);
    match(r.stderr, new RegExp(`run 'clawpatrol init --force ${worktree}'`));
    equal(await exists(config), false);
    equal(await exists(join(worktree, "state")), false);
  });
});

Deno.test("under the launcher's grant, init and start see a .git above the directory", async () => {
  const installed = await installLauncher();
  try {
    await withTempDir(async (dir) => {
      const repo = await fakeClone(dir);
      // Two levels below the clone: its .git is outside what the command may otherwise read.
      const gw = join(repo, "deploy", "gw");
      const listen = ["--proxy-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"];
      const init = await cli(["init", gw, ...listen], { bin: installed.bin, cwd: dir });
      equal(init.code, 2, explain(init));
      match(init.stderr, /would be inside the git work tree/);

      const start = await cli(["start", "-c", join(gw, "gateway.hcl"), ...listen], {
        bin: installed.bin,
        cwd: dir,
      });
      equal(start.code, 2, explain(start));
      match(start.stderr, /would be inside the git work tree/);
      equal(await exists(join(gw, "state")), false);

      // Ignored by a .gitignore between the clone and the directory: allowed.
      await Deno.mkdir(join(repo, "deploy"));
      await Deno.writeTextFile(join(repo, "deploy", ".gitignore"), "gw/\n");
      const ignored = await cli(["init", gw, ...listen], { bin: installed.bin, cwd: dir });
      equal(ignored.code, 0, explain(ignored));
    });
  } finally {
    await installed.remove();
  }
});

pgClusterTest(
  "psql with a wrong agent token is told the password is the agent token",
  async (t, cluster) => {
    await withPgGateway(cluster, {}, async (fx) => {
      const wrong = "cpat_not-the-token-5e1f";
      for (const conninfo of ["sslmode=disable", "sslmode=require channel_binding=require"]) {
        await t.step(`over ${conninfo}`, async () => {
          const before = fx.log.lines.length;
          const r = await fx.psql("select 1;\n", { password: wrong, conninfo });
          equal(r.code, 2, r.stderr);
          match(
            r.stderr,
            /FATAL: {2}password authentication failed for user "agent_ro": the password is your agent token \(clawpatrol agent add \/ rotate\)/,
          );
          ok(!r.stderr.includes(wrong), "what was sent is never echoed");
          const warned = fx.log.lines.slice(before).filter((l) => l.level === "warn");
          equal(warned.length, 1, JSON.stringify(warned));
          equal(warned[0].message, "postgres login refused: the password is not an agent token");
          equal(warned[0].fields?.endpoint, "pg");
          equal(warned[0].fields?.user, "agent_ro");
          equal(warned[0].fields?.auth, "scram");
          match(String(warned[0].fields?.client), /^127\.0\.0\.1:\d+$/);
          ok(!JSON.stringify(fx.log.lines).includes(wrong), "nor logged");
          const receipts = await fx.receipts();
          const receipt = receipts.findLast((x) => x.summary === "login as agent_ro");
          equal(receipt?.verdict, "deny");
          match(receipt?.reason ?? "", /the password is your agent token/);
        });
      }
    });
  },
);
