import { deepStrictEqual as assertEquals } from "node:assert/strict";
import type { GraphqlFacts } from "../../core/mod.ts";
import { policyOf, rule } from "../../policy/_testing.ts";
import { httpFacts, type HttpRequestFacts, type HttpRequestInput } from "./facts.ts";
import { GRAPHQL } from "./_graphql.ts";

// These tests call the facts directly; the gateway loads the parser on the first GraphQL
// request (tests/http_graphql_test.ts, core/lazy_test.ts).
await GRAPHQL.ready();

const encoder = new TextEncoder();

/** The facts of a POST /graphql with `body` as its JSON body (or raw text). */
function post(body: unknown, overrides: Partial<HttpRequestInput> = {}): HttpRequestFacts {
  return httpFacts({
    method: "POST",
    scheme: "https",
    host: "api.github.com",
    port: 443,
    target: "/graphql",
    headers: [["Content-Type", "application/json"]],
    body: encoder.encode(typeof body === "string" ? body : JSON.stringify(body)),
    bodyTruncated: false,
    ...overrides,
  });
}

function get(target: string): HttpRequestFacts {
  return post("", { method: "GET", target, headers: [] });
}

function known(result: HttpRequestFacts): GraphqlFacts {
  assertEquals(result.unknown, []);
  return result.facts.graphql;
}

function isUnknown(result: HttpRequestFacts): void {
  assertEquals(result.unknown, ["http.graphql"]);
  // The placeholder facts a rule would never see: rules reading `http.graphql` deny first.
  assertEquals(result.facts.graphql, { operation_types: [], operation_name: "", fields: [] });
}

const PR_LIST = `query PullRequestList($owner: String!, $repo: String!, $limit: Int!) {
  repository(owner: $owner, name: $repo) {
    pullRequests(first: $limit, states: OPEN) { nodes { ...pr } }
  }
}
fragment pr on PullRequest { number title author { login } }`;

Deno.test("http.graphql: the anonymous shorthand is a query", () => {
  assertEquals(known(post({ query: "{ viewer { login } }" })), {
    operation_types: ["query"],
    operation_name: "",
    fields: ["viewer"],
  });
});

Deno.test("http.graphql: a named query gives its name and top-level fields", () => {
  const facts = known(post({ query: PR_LIST, variables: { owner: "acme", repo: "api" } }));
  assertEquals(facts, {
    operation_types: ["query"],
    operation_name: "PullRequestList",
    fields: ["repository"],
  });
});

Deno.test("http.graphql: fields are the real field names, not aliases", () => {
  const facts = known(
    post({ query: "mutation { innocent: createIssue(input: {}) { issue { id } } }" }),
  );
  assertEquals([facts.operation_types, facts.fields], [["mutation"], ["createIssue"]]);
});

Deno.test("http.graphql: fragments do not change the type and their fields count", () => {
  const facts = known(post({
    query: "mutation M { ...F ... on Mutation { addStar(input: {}) { clientMutationId } } } " +
      "fragment F on Mutation { createIssue(input: {}) { issue { id } } }",
  }));
  assertEquals(facts, {
    operation_types: ["mutation"],
    operation_name: "M",
    fields: ["createIssue", "addStar"],
  });
});

Deno.test("http.graphql: operationName picks one of several operations", () => {
  const query = "query Viewer { viewer { login } } mutation Star { addStar(input: {}) { x } }";
  assertEquals(known(post({ query, operationName: "Star" })), {
    operation_types: ["query", "mutation"],
    operation_name: "Star",
    fields: ["addStar"],
  });
  // Every operation's type is listed, even the ones not selected.
  assertEquals(known(post({ query, operationName: "Viewer" })).operation_types, [
    "query",
    "mutation",
  ]);
});

Deno.test("http.graphql: several operations without a matching operationName are unknown", () => {
  const query = "query A { viewer { login } } query B { viewer { id } }";
  isUnknown(post({ query }));
  isUnknown(post({ query, operationName: null }));
  isUnknown(post({ query, operationName: "C" }));
  isUnknown(post({ query, operationName: 7 }));
  // Two operations of the same name: the server refuses the document, the rules do not guess.
  isUnknown(post({ query: "query A { a } mutation A { b }", operationName: "A" }));
});

Deno.test("http.graphql: a batched array lists every request's operations", () => {
  const facts = known(post([
    { query: "{ viewer { login } }" },
    { query: "mutation CreateIssue { createIssue(input: {}) { issue { id } } }" },
  ]));
  assertEquals(facts, {
    operation_types: ["query", "mutation"],
    operation_name: "",
    fields: ["viewer", "createIssue"],
  });
  // A batch mixing GraphQL requests with other values is unknown.
  isUnknown(post([{ query: "{ viewer { login } }" }, 1]));
  isUnknown(post([{ query: "{ viewer { login } }" }, { query: "{" }]));
});

Deno.test("http.graphql: GET ?query= and ?operationName= are read", () => {
  const q = encodeURIComponent("query A { viewer { login } } mutation B { addStar { x } }");
  assertEquals(known(get(`/graphql?query=${q}&operationName=B`)), {
    operation_types: ["query", "mutation"],
    operation_name: "B",
    fields: ["addStar"],
  });
  // Two `query` parameters, or a query in both the URL and the body: which one runs is unclear.
  isUnknown(get(`/graphql?query=${q}&query=%7Ba%7D&operationName=A`));
  isUnknown(post({ query: "{ a }" }, { target: "/graphql?query=%7Bb%7D" }));
});

Deno.test("http.graphql: a document that does not parse is unknown", () => {
  for (
    const query of [
      "query { viewer { login }",
      "mutatoin { x }",
      "",
      "fragment F on Query { a }",
      "type Query { a: Int }",
      "query { ...Missing }",
      "query { ...F } fragment F on Query { ...F }",
    ]
  ) {
    isUnknown(post({ query }));
  }
  isUnknown(post({ query: 42 }));
});

Deno.test("http.graphql: a truncated body is unknown", () => {
  const result = post('{"query":"{ viewer { login } }"}', { bodyTruncated: true });
  assertEquals(result.unknown.includes("http.graphql"), true);
});

Deno.test("http.graphql: bodies that carry no GraphQL leave the facts empty and known", () => {
  for (const body of [{ title: "fix" }, [1, 2], "not json", "", [{ id: 1 }]]) {
    assertEquals(known(post(body)), { operation_types: [], operation_name: "", fields: [] });
  }
});

Deno.test("rules read http.graphql, deny on unknown GraphQL, and typos fail at load", async () => {
  const policy = await policyOf(
    rule("graphql-reads", {
      endpoint: "https.github",
      priority: 10,
      condition: "http.path == '/graphql' && size(http.graphql.operation_types) > 0 && " +
        "http.graphql.operation_types.all(t, t == 'query')",
      verdict: "allow",
    }) + rule("no-create-issue", {
      endpoint: "https.github",
      priority: 5,
      condition: "'createIssue' in http.graphql.fields",
      verdict: "deny",
      reason: "no",
    }) + rule("rest", { endpoint: "https.github", condition: "true", verdict: "allow" }),
  );
  const decide = (result: HttpRequestFacts) =>
    policy.decide({
      protocol: "https",
      endpoint: "github",
      agent: { name: "bot", profile: "oncall" },
      facts: { http: result.facts },
      unknown: result.unknown,
      summary: result.summary,
    });
  const pick = (result: HttpRequestFacts) => {
    const v = decide(result);
    return [v.decision, v.rule];
  };
  assertEquals(pick(post({ query: PR_LIST })), ["allow", "graphql-reads"]);
  assertEquals(pick(post({ query: "mutation { createIssue { id } }" })), [
    "deny",
    "no-create-issue",
  ]);
  assertEquals(pick(post({ query: "mutation { addStar { x } }" })), ["allow", "rest"]);
  assertEquals(pick(post({ query: "query {" })), ["deny", "graphql-reads"]);
  let error = "";
  try {
    await policyOf(rule("typo", {
      endpoint: "https.github",
      condition: "http.graphql.operation_typs == []",
      verdict: "deny",
    }));
  } catch (e) {
    error = (e as Error).message;
  }
  assertEquals(/operation_typs/.test(error), true, error);
});
