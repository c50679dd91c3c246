import { equal } from "node:assert/strict";
import { HostMatcher } from "./hosts.ts";
import type { Endpoint } from "./types.ts";

function endpoint(name: string, ...hosts: string[]): Endpoint {
  return { protocol: "https", name, hosts, source: { file: "t.hcl", line: 1 } };
}

Deno.test("HostMatcher.match() prefers an exact host over a wildcard that also covers it", () => {
  // The wildcard endpoint comes first, so order alone would pick it.
  const hosts = new HostMatcher([
    endpoint("wild", "*.github.com"),
    endpoint("api", "api.github.com"),
  ]);
  equal(hosts.match("api.github.com")?.name, "api");
  equal(hosts.match("uploads.github.com")?.name, "wild");
});

Deno.test("HostMatcher.match() picks the longest wildcard suffix", () => {
  const hosts = new HostMatcher([
    endpoint("short", "*.example.com"),
    endpoint("long", "*.eu.example.com"),
  ]);
  equal(hosts.match("db.eu.example.com")?.name, "long");
  equal(hosts.match("a.b.eu.example.com")?.name, "long");
  equal(hosts.match("db.us.example.com")?.name, "short");
  // Same suffixes declared in the other order: the answer must not change.
  const reversed = new HostMatcher([
    endpoint("long", "*.eu.example.com"),
    endpoint("short", "*.example.com"),
  ]);
  equal(reversed.match("db.eu.example.com")?.name, "long");
});

Deno.test("HostMatcher.match() ignores case in both the pattern and the host", () => {
  const hosts = new HostMatcher([
    endpoint("gh", "API.GitHub.com"),
    endpoint("cdn", "*.GitHubUserContent.com"),
  ]);
  equal(hosts.match("api.github.com")?.name, "gh");
  equal(hosts.match("API.GITHUB.COM")?.name, "gh");
  equal(hosts.match("Raw.githubusercontent.COM")?.name, "cdn");
});

Deno.test("HostMatcher.match() ignores a trailing dot on the host", () => {
  const hosts = new HostMatcher([endpoint("gh", "api.github.com"), endpoint("w", "*.x.io")]);
  equal(hosts.match("api.github.com.")?.name, "gh");
  equal(hosts.match("a.x.io.")?.name, "w");
});

Deno.test("HostMatcher.match() does not let *.example.com claim example.com itself", () => {
  const hosts = new HostMatcher([endpoint("w", "*.example.com")]);
  equal(hosts.match("example.com"), undefined);
  equal(hosts.match(".example.com"), undefined);
  equal(hosts.match("a.example.com")?.name, "w");
  equal(hosts.match("a.b.example.com")?.name, "w");
});

Deno.test("HostMatcher.match() does not match a suffix that is not on a label boundary", () => {
  const hosts = new HostMatcher([endpoint("w", "*.example.com"), endpoint("e", "example.com")]);
  equal(hosts.match("badexample.com"), undefined);
  equal(hosts.match("evil-example.com"), undefined);
  equal(hosts.match("example.com.evil.net"), undefined);
});

Deno.test("HostMatcher.match() returns undefined for hosts no endpoint claims", () => {
  const hosts = new HostMatcher([endpoint("gh", "api.github.com")]);
  equal(hosts.match("api.openai.com"), undefined);
  equal(hosts.match(""), undefined);
  equal(new HostMatcher([]).match("api.github.com"), undefined);
});

Deno.test("HostMatcher.match() gives an exact host to the first endpoint that declares it", () => {
  const hosts = new HostMatcher([endpoint("first", "a.io"), endpoint("second", "a.io")]);
  equal(hosts.match("a.io")?.name, "first");
});

Deno.test("HostMatcher.match() never returns an endpoint that claims no hosts", () => {
  const listener: Endpoint = { protocol: "postgres", name: "pg", source: { file: "t", line: 1 } };
  const hosts = new HostMatcher([listener, endpoint("gh", "*.github.com")]);
  equal(hosts.match("pg"), undefined);
  equal(hosts.match("api.github.com")?.name, "gh");
});
