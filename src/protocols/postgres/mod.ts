/**
 * Postgres: a listener per `postgres` endpoint that speaks the wire protocol to agents, decides
 * every statement with facts from the real PostgreSQL parser, and logs in upstream with the
 * credential's real password.
 *
 * @example
 * ```ts
 * import { loadSqlParser, PostgresListener, SqlAnalyzer } from "./src/protocols/postgres/mod.ts";
 *
 * await loadSqlParser();
 * const options = { host: "127.0.0.1", port: 15432, ctx, analyzer: new SqlAnalyzer() };
 * const listener = await PostgresListener.listen("pg", options);
 * await listener.close();
 * ```
 *
 * @module
 */

export { SQL_FACET } from "./facet.ts";
export { POSTGRES_PROTOCOL } from "./protocol.ts";
export { isPostgresEndpoint, type PostgresEndpoint } from "./endpoint.ts";
export { PostgresListener, type PostgresListenOptions } from "./listener.ts";
export type {
  LoginRefusal,
  PostgresContext,
  PostgresLimits,
  PostgresLogin,
  PostgresLogLevel,
  PostgresRoute,
} from "./context.ts";
export {
  loadSqlParser,
  type SqlAnalysis,
  SqlAnalyzer,
  sqlParserReady,
  type StatementFacts,
} from "./sql_facts.ts";
