/**
 * The vocabulary every module shares: what an agent tried to do (an action), the facts a protocol
 * parsed out of it, and the verdict the gateway reached.
 *
 * @module
 */

import type { ProtocolFamily } from "./protocol.ts";

/** The two final answers the gateway can give. */
export type Decision = "allow" | "deny";

/** `observe` records the would-be verdict and allows; `enforce` applies it. */
export type Mode = "enforce" | "observe";

/** Who is acting: an enrolled agent and the profile it was enrolled with. */
export interface AgentFacts {
  name: string;
  profile: string;
}

/** HTTP facts (DESIGN.md §4). Method, scheme and host are lowercase. */
export interface HttpFacts {
  method: string;
  scheme: string;
  host: string;
  /** A CEL `int`: rules see it as one (a BigInt); facts keep a plain number. */
  port: number;
  path: string;
  raw_path: string;
  /**
   * The path as the most lenient router sees it: %-decoded until stable, NFKC, `;` parameters
   * removed, segments trimmed and lowercased, dot and empty segments resolved, no trailing slash.
   */
  canonical_path: string;
  /**
   * What about the path some upstream may route differently: `double_encoded`, `path_params`,
   * `encoded_slash`, `encoded_space`, `non_ascii`.
   */
  path_anomalies: string[];
  /** The method an override header or `_method` parameter names (lowercase), else `method`. */
  effective_method: string;
  query: Record<string, string[]>;
  headers: Record<string, string[]>;
  body: string;
  body_json: unknown;
  body_truncated: boolean;
  /**
   * The GraphQL operations the request carries (a JSON body with a `query` string, a batch of
   * those, or `?query=`); empty lists and `""` when it carries none.
   */
  graphql: GraphqlFacts;
  /** Credential placeholders found in the request (names), wherever they appeared. */
  placeholders: string[];
  /** Placeholders found somewhere their credential does not allow (never substituted). */
  misplaced_placeholders: string[];
  /** Placeholder-shaped texts (`{{…}}`) naming no configured credential, as written. */
  unknown_placeholders: string[];
}

/** `http.graphql`: what a GraphQL request would run. */
export interface GraphqlFacts {
  /** `query`, `mutation` or `subscription` for every operation in the document(s), in order. */
  operation_types: string[];
  /** The operation the server runs: `operationName`, or the only operation's name, else `""`. */
  operation_name: string;
  /** Top-level field names (not aliases) of the operation the server runs, e.g. `createIssue`. */
  fields: string[];
}

/** SQL facts (DESIGN.md §4). Verbs are lowercase. */
export interface SqlFacts {
  verb: string;
  verbs: string[];
  tables: string[];
  functions: string[];
  statement: string;
  /** A CEL `int`, kept as a plain number like `http.port`. */
  statement_count: number;
  database: string;
  user: string;
  dynamic: boolean;
  params: string[];
  /** A plain read: see `sql_facts.ts` `StatementFacts.readOnly`. */
  read_only: boolean;
  /** Settings the statement may change, lowercase (`"*"`: computed at run time). */
  settings: string[];
}

/** Kubernetes request-info facts (DESIGN.md §4). */
export interface K8sFacts {
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  api_group: string;
  api_version: string;
  is_resource_request: boolean;
  params: Record<string, string[]>;
}

/** AWS request facts, from the request's SigV4 signature and its API (lowercase service). */
export interface AwsFacts {
  /** The signing name of the service the request is signed for: `s3`, `sts`, `iam`… */
  service: string;
  /** The API operation as AWS names it: `ListBuckets`, `GetCallerIdentity`, `CreateUser`. */
  action: string;
  /** The region the request is signed for (`us-east-1`). */
  region: string;
  /** S3: the bucket, `""` when none (ListBuckets) or another service. */
  bucket: string;
  /** S3: the object key, `""` when none or another service. */
  key: string;
}

/** The fact families, keyed by their CEL variable name. */
export interface Facts {
  http?: HttpFacts;
  sql?: SqlFacts;
  k8s?: K8sFacts;
  aws?: AwsFacts;
}

/**
 * One thing an agent tried to do, ready to be decided.
 *
 * `unknown` names facts the protocol could not establish (`"http.body"` when the body was
 * truncated, `"sql.*"` when the statement did not parse). A rule that reads an unknown fact
 * denies: the gateway never guesses.
 */
export interface Action {
  protocol: ProtocolFamily;
  /** Endpoint name, or `null` when no endpoint claims the target. */
  endpoint: string | null;
  agent: AgentFacts;
  /** `kind.name` of the gateway-held credential this action would use, if any. */
  credential?: string;
  facts: Facts;
  unknown?: readonly string[];
  /** One-line human summary for receipts, e.g. `DROP TABLE users` or `POST /repos/x/y/pulls`. */
  summary: string;
}

/** What the rules concluded, before modes are applied. */
export type Outcome =
  | { kind: "allow"; rule: string | null }
  | { kind: "deny"; rule: string | null; reason: string; detail?: string }
  | {
    kind: "approve";
    rule: string;
    chain: string[];
    reason: string;
    /** The rule's own `reason`, shown to approvers. */
    because?: string;
  };

/**
 * The final answer for an action after modes are applied.
 *
 * `decision` is what the gateway does; `wouldBe` is what enforce mode would have done, so observe
 * mode can report denials it let through.
 */
export interface Verdict {
  decision: Decision;
  wouldBe: Decision;
  mode: Mode;
  rule: string | null;
  /** Reason safe to show the agent: generic for internal failures. */
  reason: string;
  /** Operator-only detail (evaluation errors and the like); never sent to the agent. */
  detail?: string;
}
