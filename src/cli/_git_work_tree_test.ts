import { deepEqual, equal } from "node:assert/strict";
import { join } from "node:path";
import { gitIgnores, gitProbePaths, gitWorkTreeOf } from "./_git_work_tree.ts";

/** A temporary directory holding `repo/` with a `.git` directory (a clone, to this reader). */
async function withRepo(fn: (repo: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_git_" });
  try {
    const repo = join(dir, "repo");
    await Deno.mkdir(join(repo, ".git"), { recursive: true });
    await fn(repo);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("gitWorkTreeOf() finds the .git directory above a path that does not exist yet", async () => {
  await withRepo(async (repo) => {
    deepEqual(await gitWorkTreeOf(join(repo, "sub", "gw", "state")), {
      root: repo,
      dotGit: join(repo, ".git"),
    });
    equal(await gitWorkTreeOf(join(repo, "..", "elsewhere", "state")), null);
  });
});

Deno.test("gitWorkTreeOf() takes a .git file (a worktree or submodule) for a work tree", async () => {
  await withRepo(async (repo) => {
    const worktree = join(repo, "..", "wt");
    await Deno.mkdir(worktree);
    await Deno.writeTextFile(join(worktree, ".git"), `gitdir: ${repo}/.git/worktrees/wt\n`);
    equal((await gitWorkTreeOf(join(worktree, "gw", "state")))?.root, worktree);
  });
});

Deno.test("gitWorkTreeOf() walks up past a file standing where a directory would be", async () => {
  await withRepo(async (repo) => {
    await Deno.writeTextFile(join(repo, "file"), "");
    equal((await gitWorkTreeOf(join(repo, "file", "state")))?.root, repo);
  });
});

Deno.test("gitProbePaths() names the .git and .gitignore of every ancestor, not the ancestors", () => {
  deepEqual(gitProbePaths("/home/me/gw"), [
    "/home/me/.git",
    "/home/me/.gitignore",
    "/home/.git",
    "/home/.gitignore",
    "/.git",
    "/.gitignore",
  ]);
  deepEqual(gitProbePaths("/"), []);
});

/** Whether `repo/gw/state` is ignored, given .gitignore files by directory (relative to repo). */
async function ignored(files: Record<string, string>, path = "gw/state"): Promise<boolean> {
  let result = false;
  await withRepo(async (repo) => {
    for (const [dir, text] of Object.entries(files)) {
      await Deno.mkdir(join(repo, dir), { recursive: true });
      await Deno.writeTextFile(join(repo, dir, ".gitignore"), text);
    }
    result = await gitIgnores(repo, join(repo, path));
  });
  return result;
}

Deno.test("gitIgnores() reads the patterns that ignore a state directory", async () => {
  equal(await ignored({}), false);
  equal(await ignored({ ".": "/gw/\n" }), true);
  equal(await ignored({ ".": "gw\n" }), true);
  equal(await ignored({ ".": "state/\n" }), true, "unanchored: any level");
  equal(await ignored({ ".": "/gw/state\n" }), true);
  equal(await ignored({ ".": "**/state\n" }), true);
  equal(await ignored({ ".": "gw/**\n" }), true);
  equal(await ignored({ ".": "g?/\n" }), true);
  equal(await ignored({ ".": "*\n!.gitignore\n" }), true, "a dotfiles repo ignoring all");
  equal(await ignored({ "gw": "state/\n" }), true, "a .gitignore below the root");
  equal(await ignored({ "gw": "/state\n" }), true, "anchored to its own directory");
  equal(await ignored({ ".": "./state\n" }), false);
  // The repository's own .gitignore ignores /state/ for `deno task start` in the checkout.
  equal(await ignored({ ".": "node_modules/\n/state/\n/gateway.hcl\n" }, "state"), true);
});

Deno.test("gitIgnores() does not take a path for ignored when it is not", async () => {
  equal(await ignored({ ".": "/state/\n" }), false, "anchored to the root, not gw/");
  equal(await ignored({ ".": "*.db\nmaster.key\n" }), false, "the files, not the directory");
  equal(await ignored({ ".": "# gw/\n" }), false, "a comment");
  equal(await ignored({ ".": "gw/other\n" }), false);
  equal(await ignored({ ".": "gw/\n!gw/\n" }), false, "the last match wins");
  equal(await ignored({ ".": "state/", gw: "!state/\n" }), false, "a deeper file overrides");
  equal(await ignored({ ".": "[gh]w/\n" }), false, "a class it cannot read never ignores");
  equal(await ignored({ ".": "gw/\n!g[w]/\n" }), false, "an unreadable negation may re-include");
});

Deno.test("gitIgnores() keeps a directory ignored when its parent is, whatever lies below", async () => {
  // gitignore(5): it is not possible to re-include a file if a parent directory is excluded.
  equal(await ignored({ ".": "gw/\n", gw: "!state/\n" }), true);
});
