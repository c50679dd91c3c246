/**
 * The README's command blocks, and a shell to run them in. Each ```sh block carries a marker
 * comment above it, `<!-- readme: KIND (reason) -->`, that says which test runs it (or why none
 * can), so a block cannot drift from the code unnoticed.
 *
 * @module
 */

import { join } from "node:path";
import { REPO } from "./_helpers.ts";

/** One fenced block of README.md. */
export interface ReadmeBlock {
  /** The marker's kind (`newcomer`, `skip`…), or null when the block has none. */
  kind: string | null;
  /** The marker's text after the kind. */
  note: string;
  lang: string;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

/** Every fenced block of README.md with the marker just above it (blank lines between allowed). */
export async function readmeBlocks(): Promise<ReadmeBlock[]> {
  const lines = (await Deno.readTextFile(join(REPO, "README.md"))).split("\n");
  const blocks: ReadmeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = lines[i].match(/^```(\w*)\s*$/);
    if (!open || open[1] === "") continue;
    const end = lines.findIndex((l, j) => j > i && l.startsWith("```"));
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const marker = lines[k]?.match(/^<!-- readme: ([\w-]+)\s*(.*?)\s*-->$/);
    blocks.push({
      kind: marker?.[1] ?? null,
      note: marker?.[2] ?? "",
      lang: open[1],
      body: lines.slice(i + 1, end).join("\n"),
      line: i + 1,
    });
    i = end;
  }
  return blocks;
}

/** The single block of `kind`. */
export async function readmeBlock(kind: string): Promise<ReadmeBlock> {
  const found = (await readmeBlocks()).filter((b) => b.kind === kind);
  if (found.length !== 1) throw new Error(`README.md has ${found.length} '${kind}' blocks, not 1`);
  return found[0];
}

/** The commands a reader types: every line that is neither blank nor only a comment. */
export function commandsOf(block: ReadmeBlock): string[] {
  return block.body.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));
}

/** What one command printed and its exit status. */
export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * A long-lived `sh` fed one command at a time, so variables, `eval`ed exports and background
 * jobs carry from one README line to the next as they do in a reader's terminal.
 */
export class Shell {
  readonly child: Deno.ChildProcess;
  #stdout = "";
  #stderr = "";
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiters: (() => void)[] = [];

  constructor(options: { cwd: string; env: Record<string, string> }) {
    this.child = new Deno.Command("sh", {
      cwd: options.cwd,
      env: options.env,
      clearEnv: true,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.#pump(this.child.stdout, (t) => this.#stdout += t);
    this.#pump(this.child.stderr, (t) => this.#stderr += t);
  }

  async #pump(stream: ReadableStream<Uint8Array>, add: (text: string) => void) {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      add(decoder.decode(chunk, { stream: true }));
      for (const wake of this.#waiters.splice(0)) wake();
    }
  }

  /** Everything printed so far (both streams), background jobs included. */
  get output(): string {
    return this.#stdout + this.#stderr;
  }

  /** Resolves once `test` holds for the output, or rejects after `timeoutMs`. */
  async waitFor(what: string, test: (output: string) => boolean, timeoutMs = 60_000) {
    const deadline = Date.now() + timeoutMs;
    while (!test(this.output)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; output:\n${this.output}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Runs one command line as typed and waits for it to finish. */
  async run(command: string, timeoutMs = 180_000): Promise<Ran> {
    const [out, err] = [this.#stdout.length, this.#stderr.length];
    const tag = `__readme_done_${crypto.randomUUID().slice(0, 8)}_`;
    await this.#writer.write(
      new TextEncoder().encode(`${command}\nprintf '\\n${tag}%s__\\n' "$?"\n`),
    );
    const done = new RegExp(`\\n${tag}(\\d+)__\\n`);
    await this.waitFor(`'${command}'`, () => done.test(this.#stdout.slice(out)), timeoutMs);
    const stdout = this.#stdout.slice(out);
    const status = Number(stdout.match(done)![1]);
    return { status, stdout: stdout.replace(done, ""), stderr: this.#stderr.slice(err) };
  }

  /** Ends the shell (background jobs it started are the caller's to stop first). */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
    await this.child.status;
    clearTimeout(timer);
  }
}

/** Deno's module cache, so a test with its own HOME fetches nothing. */
export async function denoDir(): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(out.stdout)).denoDir;
}

/** Our environment without settings that would redirect a newcomer's commands. */
export function cleanEnv(extra: Record<string, string>): Record<string, string> {
  const env = Deno.env.toObject();
  for (const name of Object.keys(env)) {
    if (/^(CLAWPATROL_|PG|XDG_STATE_HOME$|https?_proxy$|HTTPS?_PROXY$)/.test(name)) {
      delete env[name];
    }
  }
  return { ...env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", ...extra };
}
