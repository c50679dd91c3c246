/**
 * The Postgres listener holds the protocol contract (tests/_contract/contract.ts); skipped when
 * the PostgreSQL binaries are missing.
 */

import { protocolContract } from "./_contract/contract.ts";
import { postgresDriver } from "./_contract/postgres_driver.ts";

protocolContract("postgres", postgresDriver);
