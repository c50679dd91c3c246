/**
 * Argument parsing shared by every command (`node:util` parseArgs), with the global options.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** A usage mistake: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options every command accepts. */
export interface GlobalOptions {
  /** Config file or directory: `-c/--config`, else `$CLAWPATROL_CONFIG`, else `./gateway.hcl`. */
  config: string;
  configGiven: boolean;
  debug: boolean;
}

type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** Parses one command's arguments plus the global options. */
export function parseCommand<T extends OptionSpec>(
  args: string[],
  options: T,
): {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  global: GlobalOptions;
} {
  let parsed;
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        config: { type: "string", short: "c" },
        debug: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        ...options,
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message.split("\n")[0].replace(/\. To specify.*$/, ""));
  }
  // An empty CLAWPATROL_CONFIG (`export CLAWPATROL_CONFIG=`) means unset, not the path "".
  const env = Deno.env.get("CLAWPATROL_CONFIG") || undefined;
  const values = parsed.values as Record<string, string | boolean | string[] | undefined>;
  const config = (values.config as string | undefined) ?? env;
  return {
    values,
    positionals: parsed.positionals,
    global: {
      config: config ?? "./gateway.hcl",
      configGiven: config !== undefined,
      debug: values.debug === true,
    },
  };
}

/** The arguments before the first `--`. */
export function beforeSeparator(args: string[]): string[] {
  const at = args.indexOf("--");
  return at === -1 ? args : args.slice(0, at);
}

/** Index of the command word, skipping global options and their values. */
export function findCommand(args: string[]): number {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-c" || a === "--config") {
      i++;
      continue;
    }
    if (a.startsWith("-")) continue;
    return i;
  }
  return -1;
}
