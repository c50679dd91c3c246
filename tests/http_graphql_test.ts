/**
 * GraphQL through the real proxy: the starter GitHub pack's rules, pointed at a local
 * GraphQL-shaped upstream, forward `gh pr list`-style queries and stop mutations and garbage
 * before they reach it.
 *
 * @module
 */

import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { curlOutcome, curlPost } from "./_curl.ts";
import { REPO } from "./_helpers.ts";
import { withProxy } from "./_proxy_fixture.ts";
import { GRAPHQL } from "../src/protocols/http/mod.ts";

/**
 * rules/github_writes.hcl on the fixture's `api` endpoint. The approval rule denies instead of
 * holding: this test is about which rule decides, not about the approval chain.
 */
async function githubPack(): Promise<string> {
  const text = await Deno.readTextFile(join(REPO, "rules", "github_writes.hcl"));
  const pack = text.replaceAll("https.github", "https.api")
    .replace(/approve\s*=\s*\[human_approver\.ops\]/, 'verdict   = "deny"');
  equal(pack.includes("human_approver"), false);
  return pack;
}

/** A GraphQL endpoint's answer: the operation it received, as `data`. */
async function graphqlUpstream(req: Request): Promise<Response> {
  const { query } = await req.json();
  return Response.json({ data: { received: query } });
}

const PR_LIST = JSON.stringify({
  query: "query PullRequestList($owner: String!, $repo: String!, $limit: Int!) { " +
    "repository(owner: $owner, name: $repo) { pullRequests(first: $limit, states: OPEN) { " +
    "nodes { ...pr } } } } fragment pr on PullRequest { number title author { login } }",
  variables: { owner: "acme", repo: "api", limit: 30 },
});

const CREATE_ISSUE = JSON.stringify({
  query: "mutation CreateIssue($input: CreateIssueInput!) { createIssue(input: $input) { " +
    "issue { id url } } }",
  variables: { input: { repositoryId: "R_1", title: "bug" } },
});

Deno.test("through the proxy, a GraphQL query is forwarded and a mutation or garbage is stopped", async () => {
  await withProxy({ rules: await githubPack(), handler: graphqlUpstream }, async (fx) => {
    const url = "https://api.test/graphql";
    // The parser loads on this first GraphQL request, which still gets its facts (a query:
    // allowed; unknown GraphQL would be denied by the reads rule).
    equal(GRAPHQL.loaded, false);
    const query = await curlOutcome(curlPost(fx, { url, body: PR_LIST }));
    equal(GRAPHQL.loaded, true);
    equal(query.status, 200, query.body);
    match(JSON.parse(query.body).data.received, /^query PullRequestList/);
    equal(fx.seen.length, 1);

    const mutation = await curlOutcome(curlPost(fx, { url, body: CREATE_ISSUE }));
    equal(mutation.status, 403, mutation.body);
    const denied = JSON.parse(mutation.body);
    equal(denied.rule, "github-writes");
    equal(denied.reason, "GitHub writes need a human's approval");

    const garbage = await curlOutcome(
      curlPost(fx, { url, body: JSON.stringify({ query: "query { viewer { login }" }) }),
    );
    equal(garbage.status, 403, garbage.body);
    equal(JSON.parse(garbage.body).rule, "github-graphql-reads");
    // Neither the mutation nor the garbage reached the upstream.
    equal(fx.seen.length, 1);

    const receipts = await fx.receipts();
    equal(
      receipts.map((r) => `${r.verdict} ${r.rule}`).join(", "),
      [
        "allow github-graphql-reads",
        "deny github-writes",
        "deny github-graphql-reads",
      ].join(", "),
    );
  });
});
