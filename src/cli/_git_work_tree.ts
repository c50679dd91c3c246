/**
 * Whether a path lies in a git work tree, and whether git ignores it there, found without
 * running git (the CLI may not start programs): a `.git` entry (the directory of a clone, the
 * file of a worktree or submodule) at or above the path, and the `.gitignore` files between.
 * `init` uses it so the vault key never lands where `git add -A` picks it up.
 *
 * @module
 */

import { dirname, join, relative, resolve, sep } from "node:path";

/** A git work tree and its `.git` entry. */
export interface GitWorkTree {
  root: string;
  dotGit: string;
}

/**
 * The nearest git work tree containing `path` (which need not exist yet), or `null`.
 *
 * @example
 * ```ts
 * const tree = await gitWorkTreeOf("/home/me/src/clawpatrol/gw/state");
 * // { root: "/home/me/src/clawpatrol", dotGit: "/home/me/src/clawpatrol/.git" }
 * ```
 */
export async function gitWorkTreeOf(path: string): Promise<GitWorkTree | null> {
  for (let dir = resolve(path);; dir = dirname(dir)) {
    const dotGit = join(dir, ".git");
    if (await exists(dotGit)) return { root: dir, dotGit };
    if (dirname(dir) === dir) return null;
  }
}

/**
 * What reading every `.git` and `.gitignore` above `dir` takes: those entries of each proper
 * ancestor, never the ancestors themselves (`dir` itself is granted as a whole by its command).
 *
 * @example
 * ```ts
 * gitProbePaths("/home/me/gw");
 * // ["/home/me/.git", "/home/me/.gitignore", "/home/.git", "/home/.gitignore", "/.git", "/.gitignore"]
 * ```
 */
export function gitProbePaths(dir: string): string[] {
  const paths: string[] = [];
  for (let at = resolve(dir); dirname(at) !== at;) {
    at = dirname(at);
    paths.push(join(at, ".git"), join(at, ".gitignore"));
  }
  return paths;
}

/**
 * Whether the `.gitignore` files of `root` (a work tree) ignore the directory `path` below it.
 * Conservative: a line it cannot read (a `[…]` class, an odd escape) never makes a path ignored,
 * and may make it not ignored (a negation); git's other exclude sources (`.git/info/exclude`,
 * `core.excludesFile`) are not read. Files already tracked are not seen either.
 */
export async function gitIgnores(root: string, path: string): Promise<boolean> {
  const rel = relative(root, resolve(path));
  if (rel === "" || rel.startsWith("..")) return false;
  const parts = rel.split(sep);
  const files: { base: string[]; lines: Pattern[] }[] = [];
  for (let k = 0; k < parts.length; k++) {
    // The .gitignore of each directory above the one tested: root, root/a, root/a/b…
    files.push({
      base: parts.slice(0, k),
      lines: await readPatterns(join(root, ...parts.slice(0, k))),
    });
    // A directory git excludes hides everything below it: nothing inside can be re-included.
    if (excluded(parts.slice(0, k + 1), files)) return true;
  }
  return false;
}

/** One line of a .gitignore; `regex: null` when the line uses syntax this reader does not. */
interface Pattern {
  negated: boolean;
  /** Matched against the path relative to the file's directory, or its last segment. */
  anchored: boolean;
  regex: RegExp | null;
}

/** Lower files override higher ones; within a file the last matching line decides. */
function excluded(dir: string[], files: { base: string[]; lines: Pattern[] }[]): boolean {
  for (let f = files.length - 1; f >= 0; f--) {
    const { base, lines } = files[f];
    const rel = dir.slice(base.length).join("/");
    for (let i = lines.length - 1; i >= 0; i--) {
      const { negated, anchored, regex } = lines[i];
      if (regex === null) {
        if (negated) return false; // It may re-include: not ignored, as far as we can tell.
        continue;
      }
      if (regex.test(anchored ? rel : dir[dir.length - 1])) return !negated;
    }
  }
  return false;
}

async function readPatterns(dir: string): Promise<Pattern[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(join(dir, ".gitignore"));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.IsADirectory) return [];
    throw err;
  }
  const patterns: Pattern[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const pattern = parsePattern(raw);
    if (pattern) patterns.push(pattern);
  }
  return patterns;
}

/** A .gitignore line (gitignore(5) "PATTERN FORMAT"); `null` for blanks and comments. */
function parsePattern(raw: string): Pattern | null {
  if (raw.endsWith("\\ ")) return { negated: raw.startsWith("!"), anchored: true, regex: null };
  let line = raw.trimEnd();
  if (line === "" || line.startsWith("#")) return null;
  const negated = line.startsWith("!");
  if (negated) line = line.slice(1);
  // Only directories are tested here, so a trailing slash needs no special case.
  if (line.endsWith("/")) line = line.slice(0, -1);
  // A slash at the start or in the middle anchors the pattern to the file's directory.
  const anchored = line.includes("/");
  if (line.startsWith("/")) line = line.slice(1);
  if (line === "") return null;
  return { negated, anchored, regex: globRegex(line) };
}

/** `*` and `?` within a segment, `**` across segments; `null` for what it does not handle. */
function globRegex(glob: string): RegExp | null {
  let out = "";
  for (let i = 0; i < glob.length;) {
    if (glob.startsWith("**/", i) && (i === 0 || glob[i - 1] === "/")) {
      out += "(?:.*/)?";
      i += 3;
    } else if (glob.startsWith("/**", i) && i + 3 === glob.length) {
      out += "/.*";
      i += 3;
    } else if (glob[i] === "*") {
      out += "[^/]*";
      i += 1;
    } else if (glob[i] === "?") {
      out += "[^/]";
      i += 1;
    } else if (glob[i] === "[") {
      return null;
    } else if (glob[i] === "\\") {
      if (i + 1 === glob.length) return null;
      out += escape(glob[i + 1]);
      i += 2;
    } else {
      out += escape(glob[i]);
      i += 1;
    }
  }
  return new RegExp(`^${out}$`);
}

function escape(c: string): string {
  return /[.*+?^${}()|[\]\\/]/.test(c) ? `\\${c}` : c;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return false;
    }
    throw err;
  }
}
