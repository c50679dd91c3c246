/**
 * What a protocol declares to the rest of the gateway, as data: its family name, the facts its
 * rules read, and how `clawpatrol test` derives them from a fixture. The one list of protocols is
 * `src/protocols/registry.ts`; config, policy and audit receive it as values of these types and
 * never import a protocol (DESIGN.md §2).
 *
 * @example
 * ```ts
 * const fields = { command: "string", keys: "list<string>" };
 * const redis: Protocol = {
 *   family: "redis",
 *   facets: [{ variable: "redis", type: "RedisFacts", fields }],
 * };
 * ```
 *
 * @module
 */

/**
 * A protocol family's name: the first label of `endpoint "<family>" NAME`, `Action.protocol`, a
 * receipt's `protocol`. Open on purpose: the families are whatever the registry registers, and
 * config checks every name it reads against them.
 */
export type ProtocolFamily = string;

/**
 * CEL field types by field name, as the CEL environment spells them: `string`, `int`, `bool`,
 * `dyn`, `list<string>`, `map<string, list<string>>`, or a message type the facet declares.
 */
export type FactFields = Readonly<Record<string, string>>;

/** One fact variable rules read (DESIGN.md §4), with its CEL schema. */
export interface Facet {
  /** The CEL variable: `http`, `sql`, `k8s`. */
  readonly variable: string;
  /** The CEL message type of the variable, e.g. `SqlFacts`. */
  readonly type: string;
  /** Its fields: a rule reading one it does not declare (`sql.verbb`) is a load error. */
  readonly fields: FactFields;
  /** Message types its fields use, by CEL type name (`http.graphql` is a `GraphqlFacts`). */
  readonly messages?: Readonly<Record<string, FactFields>>;
}

/** Facts for one action a rule fixture stands for, and what the protocol could not establish. */
export interface DerivedFacts {
  facts: Record<string, Record<string, unknown>>;
  unknown?: string[];
  /** The gateway refuses this action before any rule (a setting the protocol pins): why. */
  refusal?: string;
}

/**
 * Derives the facts a fixture case leaves out from those it gives, as the protocol does at the
 * gateway: one entry per action, or `null` to use the facts as given. Throwing fails the case
 * with the error's message.
 */
export type FixtureDeriver = (
  facts: Record<string, Record<string, unknown>>,
) => DerivedFacts[] | null;

/** A registered protocol, as config, policy, audit and the CLI see it. */
export interface Protocol {
  /** Its family name, unique in the registry. */
  readonly family: ProtocolFamily;
  /**
   * The facets its rules see, its own first (kubernetes rules read `k8s`, then `http`). Every
   * rule also sees `agent`, which belongs to the gateway, not to a protocol.
   */
  readonly facets: readonly Facet[];
  /**
   * Builds the deriver `clawpatrol test` replays this family's fixture cases with. Called once
   * per run, and only for a config with an endpoint of the family: a parser may be costly to
   * load. Absent: cases are decided on the facts they give.
   */
  readonly fixtureFacts?: () => Promise<FixtureDeriver>;
}
