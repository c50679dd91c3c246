/**
 * The store's schema, as numbered migrations applied in order at start (and by `store init`),
 * under an advisory lock so gateways starting together apply each one once. A store whose schema
 * is newer than this build knows is refused: an older gateway must not write rows a newer one
 * reads differently.
 *
 * @module
 */

import type { Query, Sql } from "./_connect.ts";

/** One step of the schema. `sql` runs inside the migration's transaction. */
export interface Migration {
  version: number;
  what: string;
  sql: string;
}

/** Every migration this build knows, oldest first; never edit one that shipped, add the next. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    what: "enrolled agents",
    sql: `
      CREATE SEQUENCE clawpatrol_agents_version;
      CREATE TABLE clawpatrol_agents (
        name         text PRIMARY KEY,
        profile      text NOT NULL,
        token_sha256 text NOT NULL,
        scram_sha256 text,
        created_at   timestamptz NOT NULL,
        rotated_at   timestamptz,
        revoked_at   timestamptz,
        -- Enrolment order, which agent list shows.
        enrolled     bigint GENERATED ALWAYS AS IDENTITY,
        -- Bumped by every change, so a gateway polling max(version) sees one it missed.
        version      bigint NOT NULL DEFAULT nextval('clawpatrol_agents_version')
      );
    `,
  },
  {
    version: 2,
    what: "gateways and held approvals",
    sql: `
      CREATE TABLE clawpatrol_gateways (
        id         text PRIMARY KEY,
        started_at timestamptz NOT NULL DEFAULT now(),
        -- The store's clock, not the gateways': a stale heartbeat means a dead gateway.
        seen_at    timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE clawpatrol_approvals (
        id          text PRIMARY KEY,
        gateway     text NOT NULL,
        state       text NOT NULL
          CHECK (state IN ('pending', 'allowed', 'denied', 'gone', 'abandoned')),
        approver    text NOT NULL,
        quorum      integer NOT NULL,
        slack_users jsonb NOT NULL DEFAULT '[]',
        allowed_by  jsonb NOT NULL DEFAULT '[]',
        request     jsonb NOT NULL,
        since       timestamptz NOT NULL,
        decided_by  text,
        reason      text,
        decided_at  timestamptz
      );
      CREATE INDEX clawpatrol_approvals_pending ON clawpatrol_approvals (gateway)
        WHERE state = 'pending';
    `,
  },
  {
    version: 3,
    what: "receipt chains",
    sql: `
      -- One hash chain per gateway, copied in order from its local receipts: hash is
      -- sha256(prev_hash || canonical), so the copy verifies without the gateway.
      CREATE TABLE clawpatrol_receipts (
        gateway   text NOT NULL,
        seq       bigint NOT NULL,
        id        text NOT NULL,
        time      timestamptz NOT NULL,
        agent     text,
        verdict   text NOT NULL,
        prev_hash text NOT NULL,
        hash      text NOT NULL,
        canonical text NOT NULL,
        PRIMARY KEY (gateway, seq)
      );
      CREATE INDEX clawpatrol_receipts_time ON clawpatrol_receipts (time);
    `,
  },
  {
    version: 4,
    what: "gateway leases and the LLM verdict cache",
    sql: `
      -- One running process per gateway id: a copied state directory must not make two
      -- gateways write one receipt chain. heartbeat_at is the store's clock.
      CREATE TABLE clawpatrol_gateway_leases (
        gateway      text PRIMARY KEY,
        token        text NOT NULL,
        host         text,
        pid          integer NOT NULL,
        state_dir    text NOT NULL,
        started_at   timestamptz NOT NULL DEFAULT now(),
        heartbeat_at timestamptz NOT NULL DEFAULT now()
      );
      -- LLM judge verdicts, keyed by approver, model, policy and the request's fingerprint.
      CREATE TABLE clawpatrol_llm_verdicts (
        key        text PRIMARY KEY,
        decision   text NOT NULL CHECK (decision IN ('allow', 'deny')),
        reason     text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      );
      CREATE INDEX clawpatrol_llm_verdicts_expiry ON clawpatrol_llm_verdicts (expires_at);
    `,
  },
  {
    version: 5,
    what: "receipt chain cuts and outcome chains",
    sql: `
      -- Where each gateway's chains in the store start once older rows were pruned: the seq and
      -- hash of the last one removed, as the local checkpoint keeps them, so verification still
      -- proves the first row left follows exactly that one.
      CREATE TABLE clawpatrol_receipt_cuts (
        gateway text NOT NULL,
        chain   text NOT NULL CHECK (chain IN ('receipts', 'outcomes')),
        seq     bigint NOT NULL,
        hash    text NOT NULL,
        PRIMARY KEY (gateway, chain)
      );
      -- Each gateway's outcome chain (what happened to an action whose receipt was written
      -- ahead of forwarding), copied like its receipts: hash is sha256(prev_hash || canonical).
      CREATE TABLE clawpatrol_outcomes (
        gateway   text NOT NULL,
        seq       bigint NOT NULL,
        receipt   text NOT NULL,
        prev_hash text NOT NULL,
        hash      text NOT NULL,
        canonical text NOT NULL,
        PRIMARY KEY (gateway, seq)
      );
      CREATE INDEX clawpatrol_outcomes_receipt ON clawpatrol_outcomes (gateway, receipt);
      CREATE INDEX clawpatrol_receipts_id ON clawpatrol_receipts (gateway, id);
    `,
  },
  {
    version: 6,
    what: "the shared vault (sealed values only)",
    sql: `
      -- With gateway.store_vault: the vault's root key, wrapped under the key every gateway
      -- holds on its own host (never stored here), and the values sealed under it. A row
      -- without a nonce is a removal, kept so a gateway that still holds the value drops it.
      CREATE TABLE clawpatrol_vault_root (
        id         boolean PRIMARY KEY DEFAULT true CHECK (id),
        root       bytea NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE clawpatrol_vault (
        name        text NOT NULL,
        slot        text NOT NULL,
        nonce       bytea,
        ciphertext  bytea,
        fingerprint text,
        updated_at  text NOT NULL,
        PRIMARY KEY (name, slot),
        CHECK ((nonce IS NULL) = (ciphertext IS NULL) AND (nonce IS NULL) = (fingerprint IS NULL))
      );
    `,
  },
];

/** The newest schema version this build knows. */
export const SCHEMA_VERSION: number = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Key of the advisory lock migrations hold (an arbitrary constant: "clawpatr" in ASCII). */
const MIGRATION_LOCK = 0x636c617770617472n;

/** Thrown when the store's schema is newer than this build: the gateway refuses to start. */
export class StoreSchemaError extends Error {
  override name = "StoreSchemaError";
}

/** What {@linkcode migrate} did. */
export interface MigrationResult {
  /** The version found before migrating (0: an empty database). */
  from: number;
  to: number;
  applied: Migration[];
}

/**
 * Brings the store's schema to {@linkcode SCHEMA_VERSION}, one transaction for all steps.
 *
 * @throws {StoreSchemaError} when the store's schema is newer than this build.
 * @example
 * ```ts
 * const { from, to } = await migrate(sql);
 * ```
 */
export async function migrate(
  sql: Sql,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  const latest = migrations[migrations.length - 1].version;
  return await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK.toString()}::bigint)`;
    await tx`CREATE TABLE IF NOT EXISTS clawpatrol_schema (
      version    integer PRIMARY KEY,
      what       text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const from = await versionIn(tx);
    if (from > latest) throw newerSchema(from, latest);
    const applied = migrations.filter((m) => m.version > from);
    for (const m of applied) {
      await tx.unsafe(m.sql);
      await tx`INSERT INTO clawpatrol_schema (version, what) VALUES (${m.version}, ${m.what})`;
    }
    return { from, to: latest, applied };
  }) as MigrationResult;
}

/**
 * The store's schema version without changing anything; 0 when it was never initialised.
 *
 * @example
 * ```ts
 * if (await schemaVersion(sql) < SCHEMA_VERSION) console.log("run clawpatrol store init");
 * ```
 */
export async function schemaVersion(sql: Sql): Promise<number> {
  const [{ present }] = await sql`SELECT to_regclass('clawpatrol_schema') IS NOT NULL AS present`;
  return present ? await versionIn(sql) : 0;
}

async function versionIn(sql: Query): Promise<number> {
  const [{ version }] = await sql`SELECT coalesce(max(version), 0)::int AS version
    FROM clawpatrol_schema`;
  return version as number;
}

function newerSchema(found: number, latest: number): StoreSchemaError {
  return new StoreSchemaError(
    `The store's schema is version ${found}, newer than this clawpatrol knows (${latest}): ` +
      `upgrade clawpatrol on this host before starting it against that store`,
  );
}
