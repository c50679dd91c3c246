/**
 * The dashboard's writes into the config: a rule appended to the rules file ("Block requests
 * like this") and an observe-mode rule set to enforce ("Promote to enforce"). Only with
 * `gateway.dashboard_config_writes = true`; every write is validated against the whole config
 * (the candidate text in place of the file on disk) and refused with every problem when it would
 * not load, so a write never leaves a config the gateway rejects. A write is one atomic rename;
 * the gateway then reloads, as after an operator's edit.
 *
 * @module
 */

import { basename, dirname, join, relative, resolve } from "node:path";
import { ConfigError, formatProblem, type Protocol, writeFileAtomic } from "../core/mod.ts";
import { type Config, loadConfig } from "../config/mod.ts";
import { checkRuleConditions, compilePolicy } from "../policy/mod.ts";
import { observeModeLine } from "./_rule_text.ts";

/** The file a config directory's dashboard rules go to. */
export const DASHBOARD_RULES_FILE = "dashboard.hcl";

/** A write done (the file, relative to the config directory), or why not. */
export type ConfigWriteResult =
  | { ok: true; file: string; reloaded: boolean }
  | { ok: false; problems: string[] };

/** What {@linkcode ConfigWrites} works on. */
export interface ConfigWritesOptions {
  /** The config path the gateway loads (a file or a directory). */
  configPath: string;
  /** The config in force. */
  config: () => Config;
  protocols: readonly Protocol[];
  /** Reloads the gateway's config from disk; whether the new one is in force. */
  reload: () => Promise<boolean>;
}

/** Validated, atomic rule writes into the config, one at a time. */
export class ConfigWrites {
  readonly #options: ConfigWritesOptions;
  /** What files are named relative to: the config directory, or the config file's. */
  readonly #base: string;
  /** Writes run one after another: each reads the file the previous one wrote. */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: ConfigWritesOptions) {
    this.#options = options;
    const path = resolve(options.configPath);
    this.#base = Deno.statSync(path).isDirectory ? path : dirname(path);
  }

  /** Whether the config allows writes (`gateway.dashboard_config_writes`). */
  enabled(): boolean {
    return this.#options.config().gateway.dashboardConfigWrites;
  }

  /** The file appended rules go to: `dashboard.hcl` in a config directory, else the config file. */
  async rulesFile(): Promise<string> {
    const path = this.#options.configPath;
    return (await isDirectory(path)) ? join(path, DASHBOARD_RULES_FILE) : path;
  }

  /** The rules file as the operator names it: relative to the config's directory. */
  async rulesFileName(): Promise<string> {
    return this.shown(await this.rulesFile());
  }

  /** Every problem the config would have with `ruleText` appended to the rules file. */
  async checkAppend(ruleText: string): Promise<string[]> {
    const appending = await this.#appending(ruleText).catch((err: Error) => err);
    if (appending instanceof Error) return [`Cannot read the config: ${appending.message}`];
    const { file, text, confirm } = appending;
    const candidate = await this.#candidate(file, text);
    if (!("config" in candidate)) return candidate.problems;
    const wrong = confirm(candidate.config);
    return wrong ? [wrong] : [];
  }

  /** Appends `ruleText` to the rules file when writes are on and the result is valid. */
  append(ruleText: string): Promise<ConfigWriteResult> {
    return this.#serialised(async () => {
      const refused = this.#refuseWhenOff();
      if (refused) return refused;
      const { file, before, text, confirm } = await this.#appending(ruleText);
      return await this.#write(file, before, text, confirm);
    });
  }

  /** The rules file with `ruleText` appended, and what the result must satisfy besides loading. */
  async #appending(ruleText: string) {
    const file = await this.rulesFile();
    const before = await readOrEmpty(file);
    const text = appended(before, ruleText);
    const current = this.#options.config();
    const confirm = (candidate: Config): string | null => {
      const added = candidate.rules.length - current.rules.length;
      return onlyRules(current, candidate, file) ?? (added > 0 ? null : "The text adds no rule");
    };
    return { file, before, text, confirm };
  }

  /** Sets `mode = "enforce"` on observe-mode rule `name` in its file, when valid. */
  promote(name: string): Promise<ConfigWriteResult> {
    return this.#serialised(async () => {
      const refused = this.#refuseWhenOff();
      if (refused) return refused;
      const rule = this.#options.config().rules.find((r) => r.name === name);
      if (!rule) return { ok: false, problems: [`No rule named '${name}' in the config`] };
      if (rule.mode !== "observe") {
        return { ok: false, problems: [`Rule '${name}' is not in observe mode`] };
      }
      const text = await Deno.readTextFile(rule.source.file);
      const at = observeModeLine(text, rule.source.line);
      if (at === null) {
        return {
          ok: false,
          problems: [
            `${this.shown(rule.source.file)}:${rule.source.line}: cannot find ` +
            `'mode = "observe"' on a line of its own in rule '${name}': edit the file`,
          ],
        };
      }
      const lines = text.split("\n");
      lines[at] = lines[at].replace('"observe"', '"enforce"');
      const current = this.#options.config();
      return await this.#write(rule.source.file, text, lines.join("\n"), (config) => {
        const promoted = config.rules.find((r) => r.name === name);
        if (promoted?.mode !== "enforce") return `Rule '${name}' would not be enforced`;
        return onlyRules(current, config, rule.source.file);
      });
    });
  }

  #refuseWhenOff(): ConfigWriteResult | null {
    if (this.enabled()) return null;
    return {
      ok: false,
      problems: [
        "Writes from the dashboard are off: set dashboard_config_writes = true in the " +
        "gateway block to allow them",
      ],
    };
  }

  /**
   * Validates `text` as `file`'s, then writes it (atomically) and reloads, unless the file no
   * longer holds `before` (an operator's edit meanwhile is never overwritten).
   */
  async #write(
    file: string,
    before: string,
    text: string,
    confirm: (config: Config) => string | null,
  ): Promise<ConfigWriteResult> {
    const candidate = await this.#candidate(file, text);
    if (!("config" in candidate)) return { ok: false, problems: candidate.problems };
    const wrong = confirm(candidate.config);
    if (wrong) return { ok: false, problems: [wrong] };
    if (await readOrEmpty(file) !== before) {
      return {
        ok: false,
        problems: [`${this.shown(file)} changed while the rule was checked: look again and retry`],
      };
    }
    // A config file reached through a symlink is edited where it lives.
    const target = await Deno.realPath(file).catch(() => file);
    const mode = await modeOf(target) ?? await modeOf(this.#options.config().files[0]) ?? 0o644;
    await writeFileAtomic(target, new TextEncoder().encode(text), { mode });
    const reloaded = await this.#options.reload();
    return { ok: true, file: this.shown(file), reloaded };
  }

  /** The whole config loaded and compiled with `text` as `file`'s, or its problems. */
  async #candidate(
    file: string,
    text: string,
  ): Promise<{ config: Config } | { problems: string[] }> {
    const { configPath, protocols } = this.#options;
    try {
      const config = await loadConfig(configPath, {
        protocols,
        checkRules: checkRuleConditions,
        texts: new Map([[file, text]]),
      });
      compilePolicy(config, { protocols });
      return { config };
    } catch (err) {
      if (!(err instanceof ConfigError)) return { problems: [String((err as Error).message)] };
      return {
        // Messages name other files too ("first defined at …"): as the operator names them.
        problems: err.problems.map((p) =>
          formatProblem({ ...p, file: this.shown(p.file) }).replaceAll(`${this.#base}/`, "")
        ),
      };
    }
  }

  /** `file` as the operator names it: relative to the config's directory. */
  shown(file: string): string {
    const shown = relative(this.#base, resolve(file));
    return shown.startsWith("..") ? basename(file) : shown;
  }

  /**
   * Runs `fn` after the writes before it. A file that cannot be read or written (a read-only
   * ConfigMap, a permission) is a refusal with its reason, never a failed request.
   */
  #serialised(fn: () => Promise<ConfigWriteResult>): Promise<ConfigWriteResult> {
    const guarded = () =>
      fn().catch((err): ConfigWriteResult => ({
        ok: false,
        problems: [`Cannot write the config: ${(err as Error).message}`],
      }));
    const run = this.#queue.then(guarded, guarded);
    this.#queue = run;
    return run;
  }
}

/**
 * Why `candidate` changes more than rules, or null. The dashboard writes rules only: a block of
 * another kind (an endpoint, a gateway setting) or a `<<file:…>>` include (which could put any
 * file the gateway reads, its vault key included, into a rule's reason) is refused.
 */
function onlyRules(current: Config, candidate: Config, file: string): string | null {
  const known = new Set([...current.files, file].map((f) => resolve(f)));
  if (candidate.files.some((f) => !known.has(resolve(f)))) {
    return "The dashboard writes rules only: <<file:…>> includes are not allowed";
  }
  const settings = (c: Config) =>
    stable({ ...c, rules: undefined, files: undefined, path: undefined });
  if (settings(candidate) !== settings(current)) {
    return "The dashboard writes rules only: the text changes other blocks of the config";
  }
  return null;
}

/** JSON of config parts, Maps as entry lists, so two loads of the same text compare equal. */
function stable(value: unknown): string {
  return JSON.stringify(value, (_key, v) => v instanceof Map ? [...v] : v);
}

/** `existing` with `ruleText` after it, a blank line between. */
function appended(existing: string, ruleText: string): string {
  const head = existing === "" || existing.endsWith("\n") ? existing : `${existing}\n`;
  return `${head}${head === "" ? "" : "\n"}${ruleText.trim()}\n`;
}

async function readOrEmpty(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return "";
    throw err;
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

async function modeOf(path: string | undefined): Promise<number | null> {
  if (path === undefined) return null;
  try {
    const mode = (await Deno.stat(path)).mode;
    return mode === null ? null : mode & 0o777;
  } catch {
    return null;
  }
}
