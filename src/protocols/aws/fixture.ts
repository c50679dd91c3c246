/**
 * What `clawpatrol test` derives from an AWS fixture case: the `http` facts an https case gets,
 * then `aws` facts from the request (its `Authorization` header's scope, `X-Amz-Target`, the
 * `Action` parameter, the S3 route), under any `aws` fields the case gives.
 *
 * @module
 */

import type { FixtureDeriver } from "../../core/mod.ts";
import { withHttpDerived } from "../http/mod.ts";
import { awsFacts } from "./facts.ts";

/** Derives the aws fixture facts (see the module doc). */
export const awsFixtureFacts: FixtureDeriver = (facts) => {
  const http = withHttpDerived(facts);
  const given = http.facts.aws;
  const request = http.facts.http;
  if (typeof request?.method !== "string" || typeof request.path !== "string") {
    return [{ facts: http.facts, ...(http.unknown ? { unknown: http.unknown } : {}) }];
  }
  const derived = awsFacts(
    {
      headers: {},
      query: {},
      host: "",
      body: "",
      body_truncated: false,
      ...request,
      // As the proxy gives it (a case may spell the method as the wire does).
      method: request.method.toLowerCase(),
    } as Parameters<typeof awsFacts>[0],
  );
  // Facts the case gives are what the test is about: they are never unknown.
  const unknown = derived.unknown.filter((f) => !(given && f.slice(4) in given));
  const all = [...http.unknown ?? [], ...unknown];
  return [{
    facts: { ...http.facts, aws: { ...derived.facts.aws, ...given } },
    ...(all.length > 0 ? { unknown: all } : {}),
  }];
};
