import assert from "node:assert/strict";
import { parseOptions, startupSettings } from "./_settings.ts";

Deno.test("startup settings: cosmetic parameters pass, the rest become SET statements", () => {
  const s = startupSettings([
    ["application_name", "psql"],
    ["client_encoding", "UTF8"],
    ["DateStyle", "ISO"],
    ["search_path", "evil"],
    ["role", "admin"],
    ["_pq_.compression", "on"],
  ]);
  assert.equal(s.refusal, null);
  assert.deepEqual(s.statements, ["SET search_path TO 'evil'", "SET role TO 'admin'"]);
});

Deno.test("startup settings: options -c / --name forms, quotes escaped", () => {
  const s = startupSettings([[
    "options",
    "-c role=admin -csearch_path=x --statement-timeout=5s -c a.b=it\\'s",
  ]]);
  assert.equal(s.refusal, null);
  assert.deepEqual(s.statements, [
    "SET role TO 'admin'",
    "SET search_path TO 'x'",
    "SET statement_timeout TO '5s'",
    "SET a.b TO 'it''s'",
  ]);
});

Deno.test("startup settings: backend switches and odd names are refused", () => {
  assert.match(startupSettings([["options", "-F"]]).refusal!, /option '-F' is not allowed/);
  assert.match(startupSettings([["options", "-c"]]).refusal!, /needs name=value/);
  assert.match(startupSettings([["options", "-c novalue"]]).refusal!, /needs name=value/);
  assert.match(startupSettings([["options", "-c x;drop=1"]]).refusal!, /not a setting name/);
  assert.match(startupSettings([["bad name", "1"]]).refusal!, /not a setting/);
});

Deno.test("parseOptions: whitespace splits, backslash escapes a space", () => {
  assert.deepEqual(parseOptions("  -c  a=1\t-c b=two\\ words "), [["a", "1"], ["b", "two words"]]);
  assert.deepEqual(parseOptions(""), []);
});

Deno.test("startup settings: a client_encoding other than UTF-8 is refused", () => {
  assert.equal(startupSettings([["client_encoding", "UTF8"]]).refusal, null);
  assert.equal(startupSettings([["client_encoding", "utf-8"]]).refusal, null);
  assert.match(startupSettings([["client_encoding", "SJIS"]]).refusal!, /use UTF8/);
  assert.match(startupSettings([["options", "-c client_encoding=GBK"]]).refusal!, /use UTF8/);
});
