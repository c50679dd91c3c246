/**
 * The gateway's own permissions at run time: at start, what its config needs must be granted
 * (the launcher grants exactly that; a stale compiled binary or a hand-written `deno run` that
 * grants less stops here with the list instead of failing at the first request); on reload, what
 * the new config needs beyond the running grant is logged with the fix (a restart through the
 * launcher); `/status` shows the grant and whether anything runs unrestricted.
 *
 * @module
 */

import type { Logger, Protocol } from "../core/mod.ts";
import type { Config } from "../config/mod.ts";
import { APP_DIR, checkGrant, type Grant, serveGrant } from "./grant.ts";
import { configDirOf } from "./state.ts";

/** The grant the gateway runs under, checked against the process's permissions. */
export class RunningGrant {
  #grant: Grant;
  #unrestricted: string[];
  #uncovered: string[] = [];
  readonly #protocols: readonly Protocol[];
  readonly #log: Logger;

  private constructor(grant: Grant, protocols: readonly Protocol[], log: Logger) {
    this.#grant = grant;
    this.#protocols = protocols;
    this.#log = log;
    this.#unrestricted = checkGrant(grant).unrestricted;
  }

  /**
   * The grant `config` needs, checked: throws naming every missing permission; logs why a
   * grant is broad.
   *
   * @example
   * ```ts
   * const permissions = await RunningGrant.check(config, PROTOCOLS, log);
   * ```
   */
  static async check(
    config: Config,
    protocols: readonly Protocol[],
    log: Logger,
  ): Promise<RunningGrant> {
    const grant = serveGrant(config, protocols, {
      app: APP_DIR,
      configDir: await configDirOf(config),
    });
    // What runs unrestricted (`deno run -A` in development and tests) shows on `/status`.
    const { uncovered } = checkGrant(grant);
    if (uncovered.length > 0) {
      throw new Error(
        `the gateway's permissions do not cover its config: ${uncovered.join(", ")}. ` +
          "Start it with the clawpatrol launcher (it grants exactly what the config needs); " +
          "'clawpatrol permissions serve' prints the grant",
      );
    }
    for (const warning of grant.warnings) log.log("warn", warning);
    return new RunningGrant(grant, protocols, log);
  }

  /**
   * A reloaded config: what it needs beyond the running grant is logged. The parts that need
   * it fail cleanly (a dial outside the grant is refused with a receipt) until a restart.
   */
  async reloaded(config: Config): Promise<void> {
    const grant = serveGrant(config, this.#protocols, {
      app: APP_DIR,
      configDir: await configDirOf(config),
    });
    this.#uncovered = checkGrant(grant).uncovered;
    if (this.#uncovered.length === 0) {
      this.#grant = grant;
      return;
    }
    this.#log.log(
      "warn",
      `the reloaded config needs permissions the running gateway lacks: ${
        this.#uncovered.join(", ")
      }; what needs them is refused until the gateway is restarted with the launcher`,
    );
  }

  /** For `/status`. */
  status(): Record<string, unknown> {
    const g = this.#grant;
    return {
      read: g.read,
      write: g.write,
      net: g.net,
      env: g.env,
      run: g.run,
      sys: g.sys,
      unrestricted: this.#unrestricted,
      needs_restart_for: this.#uncovered,
    };
  }
}
