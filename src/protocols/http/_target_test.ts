import { deepEqual, equal } from "node:assert/strict";
import {
  basicCredentials,
  hostMatches,
  parseAbsoluteTarget,
  parseAuthority,
  proxyTarget,
} from "./_target.ts";

Deno.test("parseAuthority() reads host:port, lowercases, strips trailing dots and brackets IPv6", () => {
  deepEqual(parseAuthority("API.GitHub.com:443", null), { host: "api.github.com", port: 443 });
  deepEqual(parseAuthority("api.github.com.:443", null), { host: "api.github.com", port: 443 });
  deepEqual(parseAuthority("[::1]:8443", null), { host: "::1", port: 8443 });
  deepEqual(parseAuthority("example.org", 80), { host: "example.org", port: 80 });
});

Deno.test("parseAuthority() refuses what is not a plain host and port", () => {
  for (
    const bad of [
      "example.org", // CONNECT needs a port
      "example.org:0",
      "example.org:65536",
      "example.org:+443",
      "example.org:44 3",
      "user@example.org:443",
      "exa mple.org:443",
      ":443",
      "[::1:443",
      "[zz]:443",
      "256.1.1.1:443",
      "a..b:443",
      "-a.example:443",
    ]
  ) {
    equal(parseAuthority(bad, null), null, bad);
  }
});

Deno.test("parseAbsoluteTarget() splits scheme, authority and origin-form target", () => {
  deepEqual(parseAbsoluteTarget("http://Example.org/a/b?x=1"), {
    scheme: "http",
    host: "example.org",
    port: 80,
    target: "/a/b?x=1",
  });
  deepEqual(parseAbsoluteTarget("https://example.org:8443"), {
    scheme: "https",
    host: "example.org",
    port: 8443,
    target: "/",
  });
  deepEqual(parseAbsoluteTarget("http://example.org?q"), {
    scheme: "http",
    host: "example.org",
    port: 80,
    target: "/?q",
  });
});

Deno.test("parseAbsoluteTarget() refuses userinfo, other schemes and origin-form", () => {
  for (
    const bad of ["http://user:pw@example.org/", "ftp://example.org/", "/just/a/path", "http:///x"]
  ) {
    equal(parseAbsoluteTarget(bad), null, bad);
  }
});

Deno.test("hostMatches() compares host and port, with the scheme's default port", () => {
  const target = { host: "api.test", port: 443 };
  equal(hostMatches("api.test", target, 443), true);
  equal(hostMatches("API.test.:443", target, 443), true);
  equal(hostMatches("api.test:8443", target, 443), false);
  equal(hostMatches("evil.test", target, 443), false);
  equal(hostMatches("api.test@evil.test", target, 443), false);
});

Deno.test("hostMatches() judges each Host anew when it changes, and keeps the default port apart", () => {
  const api = { host: "api.test", port: 443 };
  const plain = { host: "api.test", port: 80 };
  // The same text asked in turns against targets and default ports: a kept parse must never
  // answer for another text, nor for the same text under another default port.
  for (let round = 0; round < 3; round++) {
    equal(hostMatches("api.test", api, 443), true);
    equal(hostMatches("api.test", api, 443), true);
    equal(hostMatches("api.test", plain, 80), true);
    equal(hostMatches("api.test", api, 80), false);
    equal(hostMatches("evil.test", api, 443), false);
    equal(hostMatches("api.test", { host: "evil.test", port: 443 }, 443), false);
    equal(hostMatches("api.test:80", api, 443), false);
    equal(hostMatches("api.test:80", plain, 443), true);
    equal(hostMatches("bad host", api, 443), false);
  }
});

Deno.test("basicCredentials() decodes one Basic NAME:TOKEN and nothing else", () => {
  deepEqual(basicCredentials([`Basic ${btoa("bot:cpat_x:y")}`]), {
    name: "bot",
    token: "cpat_x:y",
  });
  deepEqual(basicCredentials([`basic ${btoa("bot:t")}`]), { name: "bot", token: "t" });
  equal(basicCredentials([]), null);
  equal(basicCredentials([`Basic ${btoa("bot:t")}`, `Basic ${btoa("bot:t")}`]), null);
  equal(basicCredentials([`Bearer ${btoa("bot:t")}`]), null);
  equal(basicCredentials(["Basic !!!"]), null);
  equal(basicCredentials([`Basic ${btoa(":t")}`]), null);
  equal(basicCredentials([`Basic ${btoa("no-colon")}`]), null);
});

Deno.test("proxyTarget() takes an http:// target whose Host agrees, and refuses the rest", () => {
  deepEqual(proxyTarget("http://api.test/a", ["api.test:80"], "HTTP/1.1"), {
    absolute: { scheme: "http", host: "api.test", port: 80, target: "/a" },
  });
  // HTTP/1.0 may omit Host; HTTP/1.1 may not.
  equal("absolute" in proxyTarget("http://api.test/a", [], "HTTP/1.0"), true);
  const problem = (target: string, hosts: string[], version = "HTTP/1.1") => {
    const checked = proxyTarget(target, hosts, version);
    return "problem" in checked ? checked.problem : null;
  };
  equal(
    problem("/a", ["api.test"]),
    "a proxy request needs an absolute http:// target, or CONNECT",
  );
  equal(problem("https://api.test/a", ["api.test"]), "use CONNECT for https:// targets");
  const mismatch = "Host header does not match the request target";
  equal(problem("http://api.test/a", []), mismatch);
  equal(problem("http://api.test/a", ["evil.test"]), mismatch);
  equal(problem("http://api.test/a", ["api.test:8080"]), mismatch);
  equal(problem("http://api.test/a", ["api.test", "api.test"]), mismatch);
});
