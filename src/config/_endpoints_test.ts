import { deepStrictEqual, equal, ok, rejects } from "node:assert/strict";
import type { Protocol } from "../core/mod.ts";
import { loadConfigText } from "./load.ts";
import { assertProblem, HEAD, lineOf, problemsOf } from "./_testing.ts";
import { protocolOf, PROTOCOLS } from "../protocols/registry.ts";
import type { HttpsEndpoint } from "../protocols/http/mod.ts";
import type { KubernetesEndpoint } from "../protocols/kubernetes/mod.ts";

Deno.test("loadConfigText() reads an https endpoint's ports sorted and unique, 443 when absent", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}endpoint "https" "plain" {
  hosts = ["plain.test"]
}
endpoint "https" "alt" {
  hosts = ["alt.test"]
  ports = [8443, 443, 8443]
}
`,
    { protocols: PROTOCOLS },
  );
  deepStrictEqual((config.endpoints.get("plain") as HttpsEndpoint).ports, [443]);
  deepStrictEqual((config.endpoints.get("alt") as HttpsEndpoint).ports, [443, 8443]);
});

Deno.test("loadConfigText() reports ports that are not 1-65535 whole numbers, and ports on Kubernetes endpoints, on their line", async () => {
  const text = `${HEAD}endpoint "https" "a" {
  hosts = ["a.test"]
  ports = [443, 0]
}
endpoint "https" "b" {
  hosts = ["b.test"]
  ports = [65536]
}
endpoint "https" "c" {
  hosts = ["c.test"]
  ports = []
}
endpoint "https" "d" {
  hosts = ["d.test"]
  ports = ["443"]
}
endpoint "https" "e" {
  hosts = ["e.test"]
  ports = 443
}
endpoint "https" "f" {
  hosts = ["f.test"]
  ports = [44.3]
}
endpoint "kubernetes" "k8s" {
  server = "https://10.0.0.1:6443"
  ports  = [6443]
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, "ports", 0),
    /endpoint "https" "a": 'ports' entry 0 is not a port \(1-65535\)/,
  );
  assertProblem(problems, lineOf(text, "ports", 1), /'ports' entry 65536 is not a port/);
  assertProblem(problems, lineOf(text, "ports", 2), /'ports' needs at least one port/);
  assertProblem(
    problems,
    lineOf(text, "ports", 3),
    /'ports' entries must be whole numbers, got "443"/,
  );
  assertProblem(
    problems,
    lineOf(text, "ports", 4),
    /'ports' must be a list of whole numbers, got number 443/,
  );
  assertProblem(
    problems,
    lineOf(text, "ports", 5),
    /'ports' entries must be whole numbers, got number 44.3/,
  );
  // A Kubernetes endpoint claims its server's port only: nothing to configure.
  assertProblem(
    problems,
    lineOf(text, "ports", 6),
    /endpoint "kubernetes" "k8s": unknown attribute or block 'ports'/,
  );
  equal(problems.length, 7, problems.map((p) => p.message).join("\n"));
});

Deno.test("loadConfigText() reads unknown_placeholders on https and kubernetes endpoints, deny when absent", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}endpoint "https" "strict" {
  hosts = ["strict.test"]
}
endpoint "https" "templates" {
  hosts                = ["templates.test"]
  unknown_placeholders = "allow"
}
endpoint "kubernetes" "k8s" {
  server               = "https://10.0.0.1:6443"
  unknown_placeholders = "allow"
}
endpoint "kubernetes" "k8s-strict" {
  server = "https://10.0.0.2:6443"
}
`,
    { protocols: PROTOCOLS },
  );
  const https = (name: string) => config.endpoints.get(name) as HttpsEndpoint;
  const k8s = (name: string) => config.endpoints.get(name) as KubernetesEndpoint;
  equal(https("strict").unknownPlaceholders, "deny");
  equal(https("templates").unknownPlaceholders, "allow");
  equal(k8s("k8s").unknownPlaceholders, "allow");
  equal(k8s("k8s-strict").unknownPlaceholders, "deny");
});

Deno.test("loadConfigText() rejects other unknown_placeholders values, and the attribute on postgres endpoints", async () => {
  const text = `${HEAD}endpoint "https" "a" {
  hosts                = ["a.test"]
  unknown_placeholders = "passthrough"
}
endpoint "postgres" "pg" {
  host                 = "db.internal:5432"
  listen               = "127.0.0.1:15432"
  unknown_placeholders = "allow"
}
`;
  const problems = await problemsOf(text);
  assertProblem(
    problems,
    lineOf(text, "unknown_placeholders", 0),
    /'unknown_placeholders' must be one of "deny", "allow", got "passthrough"/,
  );
  assertProblem(
    problems,
    lineOf(text, "unknown_placeholders", 1),
    /endpoint "postgres" "pg": unknown attribute or block 'unknown_placeholders'/,
  );
  ok(problems.length === 2, problems.map((p) => p.message).join("\n"));
});

Deno.test("loadConfigText() reads allow_double_encoding, allow_path_params and allow_method_override, false by default, and reports non-booleans on their line", async () => {
  const config = await loadConfigText(
    "t.hcl",
    `${HEAD}endpoint "https" "plain" {
  hosts = ["plain.test"]
}
endpoint "https" "lax" {
  hosts                 = ["lax.test"]
  allow_double_encoding = true
  allow_path_params     = true
  allow_method_override = true
}
`,
    { protocols: PROTOCOLS },
  );
  const flags = (e: HttpsEndpoint) => [
    e.allowDoubleEncoding,
    e.allowPathParams,
    e.allowMethodOverride,
  ];
  deepStrictEqual(flags(config.endpoints.get("plain") as HttpsEndpoint), [false, false, false]);
  deepStrictEqual(flags(config.endpoints.get("lax") as HttpsEndpoint), [true, true, true]);
  const text = `${HEAD}endpoint "https" "a" {
  hosts                 = ["a.test"]
  allow_double_encoding = "yes"
  allow_path_params     = 1
  allow_method_override = "true"
}
`;
  const problems = await problemsOf(text);
  for (const name of ["allow_double_encoding", "allow_path_params", "allow_method_override"]) {
    assertProblem(problems, lineOf(text, name), new RegExp(`'${name}' must be true or false`));
  }
});

Deno.test("loadConfigText() reads the endpoint families of the protocols it is given, and no other", async () => {
  const text = `${HEAD}endpoint "postgres" "pg" {
  host   = "db.internal:5432"
  listen = "127.0.0.1:15432"
}
rule "r" {
  endpoint = postgres.pg
  verdict  = "deny"
}
`;
  const problems = await problemsOf(text, "t.hcl", [protocolOf("https")!]);
  assertProblem(
    problems,
    lineOf(text, "endpoint"),
    /unknown endpoint protocol "postgres": use "https"$/,
  );
  // The kinds of endpoint references are the registered families too.
  assertProblem(
    problems,
    lineOf(text, "endpoint = postgres.pg"),
    /'postgres\.pg', but must refer to https\.\*/,
  );
});

Deno.test("loadConfigText() refuses an endpoint of a registered family it has no schema for", async () => {
  const text = `${HEAD}endpoint "redis" "cache" {
  host = "cache.internal:6379"
}
`;
  const problems = await problemsOf(text, "t.hcl", [...PROTOCOLS, { family: "redis", facets: [] }]);
  assertProblem(problems, lineOf(text, "endpoint"), /no endpoint schema for protocol "redis"/);
  equal(problems.length, 1, "the block is refused whole, not read half");
});

/** A protocol config has never heard of, declaring its endpoint schema and a credential kind. */
const REDIS: Protocol = {
  family: "redis",
  facets: [],
  endpoint: {
    read: (name, body) => {
      const server = body.hostPort("server");
      if (!body.has("server")) body.problem("missing required attribute 'server' (host:port)");
      return {
        protocol: "redis",
        name,
        source: body.source,
        server,
        listen: body.hostPort("listen"),
      };
    },
  },
  credentials: { redis_password: { settings: ["user"], required: ["user"] } },
};

Deno.test("loadConfigText() reads an endpoint family, and its credentials, by the schemas its protocol declares", async () => {
  const text = `${HEAD}endpoint "redis" "cache" {
  server = "cache.internal:6379"
  listen = "127.0.0.1:16379"
}
credential "redis_password" "cache_pw" {
  endpoint = redis.cache
  user     = "app"
}
`;
  const config = await loadConfigText("t.hcl", text, { protocols: [...PROTOCOLS, REDIS] });
  const cache = config.endpoints.get("cache");
  deepStrictEqual(cache, {
    protocol: "redis",
    name: "cache",
    source: { file: "t.hcl", line: lineOf(text, "endpoint") },
    server: "cache.internal:6379",
    listen: "127.0.0.1:16379",
  });
  deepStrictEqual(config.credentials.get("redis_password.cache_pw")?.settings, { user: "app" });
});

Deno.test("loadConfigText() locates what a protocol's schema reports, and the attributes it never read", async () => {
  const text = `${HEAD}endpoint "redis" "cache" {
  listen = "nowhere"
  colour = "red"
}
credential "redis_password" "cache_pw" {
  endpoint = https.gh
}
endpoint "https" "gh" {
  hosts = ["api.github.com"]
}
`;
  const problems = await problemsOf(text, "t.hcl", [...PROTOCOLS, REDIS]);
  assertProblem(problems, lineOf(text, "endpoint"), /"cache": missing required attribute 'server'/);
  assertProblem(problems, lineOf(text, "listen"), /'listen' must be host:port, got "nowhere"/);
  assertProblem(problems, lineOf(text, "colour"), /unknown attribute or block 'colour'/);
  // A credential kind binds to the family that declares it, and requires what it declares.
  assertProblem(problems, lineOf(text, "endpoint = https.gh"), /must refer to redis\.\*/);
  assertProblem(problems, lineOf(text, "credential"), /missing required attribute 'user'/);
  equal(problems.length, 5, problems.map((p) => p.message).join("\n"));
});

Deno.test("loadConfigText() refuses to load when two protocols declare one credential kind", async () => {
  const twin: Protocol = {
    family: "twin",
    facets: [],
    credentials: { bearer_token: { settings: [] } },
  };
  await rejects(
    () => loadConfigText("t.hcl", HEAD, { protocols: [...PROTOCOLS, twin] }),
    TypeError,
    "credential kind 'bearer_token': declared by 'https' and 'twin'",
  );
});
