/**
 * A port in use at start stops the gateway with an error that names the setting, its address,
 * the config line it is set on, and what to do: change it there, or stop what listens.
 */

import { equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { gatewayHeader, startTestGateway } from "./_gateway.ts";
import { withTempDir } from "./_helpers.ts";

/** A Postgres endpoint: its listener opens without a reachable database. */
const PG_ENDPOINT = `endpoint "postgres" "pg" {
  host    = "127.0.0.1:5432"
  sslmode = "disable"
  listen  = "127.0.0.1:0"
}
profile "bots" {
  endpoints = [postgres.pg]
}
`;

/** Starts a gateway on `config` and returns the error it fails with. */
async function startFails(dir: string, config: string): Promise<Error> {
  let failure: Error | undefined;
  await rejects(
    startTestGateway(dir, config, {}, { name: "bot", profile: "bots" }),
    (err: Error) => {
      failure = err;
      return true;
    },
  );
  return failure!;
}

/** The 1-based line of the first line of `text` that matches `pattern`. */
function lineOf(text: string, pattern: RegExp): number {
  return text.split("\n").findIndex((l) => pattern.test(l)) + 1;
}

for (const setting of ["proxy_listen", "admin_listen"]) {
  Deno.test(`a taken gateway.${setting} at start names its file:line and the fix`, async () => {
    await withTempDir(async (dir) => {
      using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const address = `127.0.0.1:${taken.addr.port}`;
      const config = `${gatewayHeader()}${PG_ENDPOINT}`.replace(
        new RegExp(`${setting}\\s*=\\s*"[^"]*"`),
        `${setting} = "${address}"`,
      );
      ok(config.includes(address));
      const err = await startFails(dir, config);
      const file = join(dir, "gateway.hcl");
      const line = lineOf(config, new RegExp(`^\\s*${setting}\\s*=`));
      equal(
        err.message.replace(/': [^:]*in use[^:]*: /i, "': <in use>: "),
        `Cannot listen on gateway.${setting} '${address}': <in use>: change ${setting} in ${file}:${line}, or stop what listens on port ${taken.addr.port}`,
      );
    });
  });
}

Deno.test("a taken endpoint listen at start names the endpoint, its listen line and the fix", async () => {
  await withTempDir(async (dir) => {
    using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const address = `127.0.0.1:${taken.addr.port}`;
    const config = `${gatewayHeader()}${PG_ENDPOINT.replace("127.0.0.1:0", address)}`;
    const err = await startFails(dir, config);
    const line = lineOf(config, new RegExp(`^\\s*listen\\s*=\\s*"${address}"`));
    match(
      err.message,
      new RegExp(
        `^Cannot listen on endpoint "postgres" "pg" listen '${address}': .*in use.*: change listen in ${
          join(dir, "gateway.hcl")
        }:${line}, or stop what listens on port ${taken.addr.port}$`,
        "i",
      ),
    );
    ok(err.cause instanceof Deno.errors.AddrInUse);
  });
});
