// Every ```sh block in README.md says which test runs it, or why none can (a marker comment
// above it); the blocks that run against a quickstart run here, as written.
import { deepEqual, equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { REPO, withTempDir } from "./_helpers.ts";
import { cleanEnv, commandsOf, readmeBlocks, Shell } from "./_readme.ts";
import { findPostgresBin } from "../src/cli/_quickstart_pg.ts";

/** Marker kinds and the test that runs each. */
const KINDS: Record<string, string> = {
  "top-commands": "tests/top_commands_test.ts",
  newcomer: "tests/newcomer_test.ts",
  "newcomer-approval": "tests/newcomer_test.ts",
  "newcomer-isolate": "tests/newcomer_test.ts",
  "newcomer-dashboard": "tests/newcomer_test.ts",
  "quickstart-approval": "tests/readme_blocks_test.ts",
  skip: "none: the marker says why",
};

Deno.test("every README command block is marked with the test that runs it or why none can", async () => {
  const blocks = (await readmeBlocks()).filter((b) => b.lang === "sh");
  ok(blocks.length >= 8, "the README's sh blocks are found");
  for (const block of blocks) {
    ok(
      block.kind !== null,
      `README.md:${block.line}: a sh block without a <!-- readme: … --> marker`,
    );
    ok(block.kind! in KINDS, `README.md:${block.line}: unknown marker kind '${block.kind}'`);
    if (block.kind === "skip") {
      match(block.note, /^\(.{10,}\)$/, `README.md:${block.line}: a skip says why, in brackets`);
    }
  }
  const once = [
    "top-commands",
    "newcomer",
    "newcomer-approval",
    "newcomer-dashboard",
    "newcomer-isolate",
  ];
  deepEqual(once.map((k) => blocks.filter((b) => b.kind === k).length), [1, 1, 1, 1, 1]);
});

Deno.test({
  name: "the README's approvals block runs as written against a quickstart holding a request",
  ignore: findPostgresBin() === null,
}, async () => {
  const blocks = (await readmeBlocks()).filter((b) => b.kind === "quickstart-approval");
  ok(blocks.length > 0);
  for (const block of blocks) await withQuickstart((shell) => runBlock(shell, commandsOf(block)));
});

/** A shell whose `clawpatrol` is the checkout's launcher, with a quickstart running. */
async function withQuickstart(fn: (shell: Shell) => Promise<void>) {
  await withTempDir(async (root) => {
    const bin = join(root, "bin");
    await Deno.mkdir(bin);
    // `clawpatrol` as installed, but from the checkout: the launcher and its computed grant.
    await Deno.writeTextFile(
      join(bin, "clawpatrol"),
      `#!/bin/sh\nexec sh ${REPO}launcher.sh "$@"\n`,
      {
        mode: 0o755,
      },
    );
    const tmp = join(root, "tmp");
    await Deno.mkdir(tmp, { mode: 0o1777 });
    await Deno.chmod(tmp, 0o1777);
    await Deno.chmod(root, 0o755);
    const shell = new Shell({
      cwd: root,
      env: cleanEnv({
        PATH: `${bin}:${Deno.env.get("PATH")}`,
        XDG_STATE_HOME: join(root, "state"),
        TMPDIR: tmp,
      }),
    });
    let pid = "";
    try {
      await shell.run("clawpatrol quickstart &");
      pid = (await shell.run("echo $!")).stdout.trim();
      equal((await shell.run(`eval "$(clawpatrol quickstart env)"`)).status, 0, shell.output);
      await shell.run(
        `curl -s -X POST -d '{"title":"from the test"}' https://api.demo.test/issues &`,
      );
      await fn(shell);
      await shell.waitFor("curl's answer", (out) => /"title":"from the test"/.test(out));
    } finally {
      if (pid) await shell.run(`kill ${pid}; wait ${pid}`);
      await shell.close();
    }
  });
}

const APPROVAL_ID = /apr_[0-9a-f]{20}/;

/** Runs the block's commands, with the held request's ID where the README shows an example. */
async function runBlock(shell: Shell, commands: string[]) {
  let id = "";
  const deadline = Date.now() + 60_000;
  // The hold exists once curl's request reached the gateway: wait for that, not for a time.
  while (!id && Date.now() < deadline) {
    id = (await shell.run("clawpatrol approvals list --json")).stdout.match(APPROVAL_ID)?.[0] ?? "";
  }
  ok(id, "the request is held");
  for (const command of commands) {
    const ran = await shell.run(command.replace(APPROVAL_ID, id));
    equal(ran.status, 0, `${command}: ${ran.stderr}`);
    if (/approvals list/.test(command)) match(ran.stdout, new RegExp(`${id} .* demo-api-writes`));
    if (/approvals approve/.test(command)) match(ran.stdout, /^Approved apr_\w+ as cli:/m);
    if (/log --limit 1 --json/.test(command)) match(ran.stdout, /"decision":"allow","who":"cli:/);
  }
}
