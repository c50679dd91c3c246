// `gateway { store = "postgres://…" }`: parsed once, its password kept out of everything
// printable (problems included), and every mistake reported at its line.

import { deepStrictEqual, equal, ok } from "node:assert/strict";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { parseStoreUrl } from "./_store.ts";
import { PROTOCOLS } from "../protocols/registry.ts";

Deno.test("no store: the embedded default, nothing set", async () => {
  const config = await loadConfigText("t.hcl", HEAD, { protocols: PROTOCOLS });
  equal(config.gateway.store, undefined);
});

Deno.test("a store URL is split into its parts, the printable form without the password", async () => {
  const text = `${HEAD}gateway {
  store = "postgres://cp:s%40cret@db.internal:6432/claw?sslmode=verify-full&sslrootcert=/etc/ca.pem"
}
`;
  const config = await loadConfigText("t.hcl", text, { protocols: PROTOCOLS });
  deepStrictEqual(config.gateway.store, {
    host: "db.internal",
    port: 6432,
    database: "claw",
    user: "cp",
    sslmode: "verify-full",
    sslRootCert: "/etc/ca.pem",
    display: "postgres://cp@db.internal:6432/claw",
    password: "s@cret",
  });
});

Deno.test("store defaults: port 5432, sslmode prefer (as libpq), password from the environment", () => {
  const store = parseStoreUrl("postgresql://cp@[::1]/claw");
  ok(typeof store !== "string");
  deepStrictEqual(
    [store.host, store.port, store.sslmode, store.password, store.display],
    ["::1", 5432, "prefer", null, "postgres://cp@[::1]/claw"],
  );
});

Deno.test("store mistakes are reported at their line, never repeating a password", async () => {
  const cases: [string, RegExp][] = [
    ["mysql://cp:hunter2@db/claw", /must start with postgres:\/\//],
    ["postgres://db.internal/claw", /needs a user/],
    ["postgres://cp:hunter2@db.internal", /needs one database/],
    ["postgres://cp:hunter2@db/claw?sslmode=allow", /sslmode must be one of/],
    ["postgres://cp:hunter2@db/claw?sslmod=require", /unknown parameter 'sslmod'/],
    ["postgres://cp:hunter2@db/claw?sslrootcert=ca.pem", /sslrootcert must be an absolute path/],
    ["not a url hunter2", /must be a URL/],
  ];
  for (const [url, why] of cases) {
    const text = `${HEAD}gateway {\n  store = "${url}"\n}\n`;
    const problems = await problemsOf(text);
    assertProblem(problems, lineOf(text, "store"), why);
    ok(!JSON.stringify(problems).includes("hunter2"), `password in a problem for ${url}`);
  }
});
