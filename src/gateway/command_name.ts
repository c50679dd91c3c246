/**
 * How the user runs clawpatrol, for the commands the gateway and the CLI suggest: `clawpatrol`
 * once installed, `deno task cli` from a checkout (the launcher says which in
 * `CLAWPATROL_COMMAND`), so every suggested command runs as printed.
 *
 * @module
 */

/** The command prefix to suggest, e.g. `clawpatrol` or `deno task cli`. */
export function commandName(): string {
  const granted = Deno.permissions.querySync({ name: "env", variable: "CLAWPATROL_COMMAND" });
  if (granted.state !== "granted") return "clawpatrol";
  const name = Deno.env.get("CLAWPATROL_COMMAND")?.trim();
  // Only a plain command line is echoed back: a value with shell syntax is not trusted.
  return name && /^[\w ./-]+$/.test(name) ? name : "clawpatrol";
}
