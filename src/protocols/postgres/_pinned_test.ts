import { equal, match } from "node:assert/strict";
import { pinnedChange, serverSettingRefusal } from "./_pinned.ts";

Deno.test("pinnedChange() refuses pinned settings and unknown names, not others", () => {
  for (const name of ["search_path", "role", "session_authorization", "backslash_quote"]) {
    match(pinnedChange(name, "x") ?? "", new RegExp(`changing ${name} is not allowed`));
  }
  match(pinnedChange("standard_conforming_strings", "off") ?? "", /how the server reads string/);
  equal(pinnedChange("standard_conforming_strings", "on"), null, "what the gateway requires");
  equal(pinnedChange("standard_conforming_strings", " TRUE "), null);
  match(pinnedChange("standard_conforming_strings", null) ?? "", /not allowed/);
  match(pinnedChange("*", "x") ?? "", /computed at run time/);
  match(pinnedChange("client_encoding", "LATIN1") ?? "", /must stay UTF8/);
  match(pinnedChange("client_encoding", null) ?? "", /must stay UTF8/);
  equal(pinnedChange("client_encoding", "utf8"), null);
  equal(pinnedChange("statement_timeout", "5s"), null);
});

Deno.test("serverSettingRefusal() names the setting and the fix at login, and the change later", () => {
  match(
    serverSettingRefusal("standard_conforming_strings", "off") ?? "",
    /reports standard_conforming_strings = off.*RESET standard_conforming_strings/,
  );
  equal(serverSettingRefusal("standard_conforming_strings", "on"), null);
  match(
    serverSettingRefusal("client_encoding", "LATIN1", true) ?? "",
    /^client_encoding must stay UTF8 through clawpatrol \(the server reported LATIN1\)$/,
  );
  equal(serverSettingRefusal("client_encoding", "UTF8"), null);
  equal(serverSettingRefusal("application_name", "anything"), null);
});
