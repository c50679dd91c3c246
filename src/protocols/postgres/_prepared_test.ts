import { deepEqual, equal } from "node:assert/strict";
import {
  notPreparedHere,
  Portals,
  PreparedStatements,
  trackPrepared,
  unknownExecute,
} from "./_prepared.ts";
import type { PreparedOp } from "./_sql_walk.ts";

const stmt = (statement: string, ...preparedOps: PreparedOp[]) => ({ statement, preparedOps });

Deno.test("PreparedStatements: defined names are known until dropped, forgotten on a failed batch", () => {
  const p = new PreparedStatements();
  p.define("a", "select 1");
  p.define("b", "select 2");
  equal(p.get("a")?.sql, "select 1");
  p.drop("a");
  equal(p.get("a"), undefined);
  p.define("c", "select 3");
  p.failed(["c"]);
  equal(p.get("c"), undefined, "a definition the server may have refused is forgotten");
  equal(p.get("b")?.sql, "select 2");
  p.drop(null);
  equal(p.size, 0);
});

Deno.test("unknownExecute() allows names known or prepared earlier in the same message", () => {
  const p = new PreparedStatements();
  p.define("known", "select 1");
  equal(unknownExecute([stmt("EXECUTE known", { op: "execute", name: "known" })], p), null);
  equal(
    unknownExecute([
      stmt("PREPARE q AS SELECT 1", { op: "prepare", name: "q" }),
      stmt("EXECUTE q", { op: "execute", name: "q" }),
    ], p),
    null,
  );
  deepEqual(
    unknownExecute([
      stmt("EXECUTE q", { op: "execute", name: "q" }),
      stmt("PREPARE q AS SELECT 1", { op: "prepare", name: "q" }),
    ], p),
    { name: "q", statement: "EXECUTE q" },
    "a PREPARE after the EXECUTE does not count",
  );
});

Deno.test("trackPrepared() applies PREPARE, DEALLOCATE and DEALLOCATE ALL in order", () => {
  const p = new PreparedStatements();
  const defined: string[] = [];
  const define = (name: string, sql: string) => {
    defined.push(name);
    p.define(name, sql);
  };
  trackPrepared(
    [
      stmt("PREPARE a AS SELECT 1", { op: "prepare", name: "a" }),
      stmt("PREPARE b AS SELECT 2", { op: "prepare", name: "b" }),
      stmt("DEALLOCATE a", { op: "deallocate", name: "a" }),
    ],
    p,
    define,
  );
  deepEqual(defined, ["a", "b"]);
  equal(p.get("a"), undefined);
  equal(p.get("b")?.sql, "PREPARE b AS SELECT 2");
  trackPrepared([stmt("DISCARD ALL", { op: "deallocate", name: null })], p, define);
  equal(p.size, 0);
});

Deno.test("notPreparedHere() names the statement", () => {
  equal(
    notPreparedHere("s1"),
    'prepared statement "s1" was not prepared through clawpatrol in this session, so what it runs cannot be checked',
  );
});

Deno.test("Portals: known until closed, and forgotten when their transaction ends", () => {
  const p = new Portals();
  const portal = (sql: string, batch: number) => ({ sql, params: [], formats: [], batch });
  p.bind("", portal("select 1", 0));
  p.bind("named", portal("select 2", 1));
  p.bind("later", portal("select 3", 2));
  equal(p.get("named")?.sql, "select 2");
  p.drop("");
  equal(p.get(""), undefined);
  // Idle after batch 1: portals bound in batch 2 (pipelined behind it) still exist.
  p.transactionEnded(1);
  equal(p.get("named"), undefined);
  equal(p.get("later")?.sql, "select 3");
  equal(p.size, 1);
});
