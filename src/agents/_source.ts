/**
 * Where the registry's records come from: the agents file in `state_dir` (the embedded default),
 * or a snapshot another module keeps of a shared store. The registry only reads through this;
 * the file source also does the locked read-modify-write the CLI's changes need.
 *
 * @module
 */

import type { AgentRecord } from "./_record.ts";
import { fileSignature, readAgentsFile, writeAgentsFile } from "./_file.ts";
import { withFileLock } from "./_lock.ts";

/** Records the registry reads, and notices changes of. */
export interface AgentSource {
  /** Where the agents live, for messages: a file path, or the store's URL. */
  readonly where: string;
  /** Identifies the records' version now; cheap, checked at most every `refreshIntervalMs`. */
  signature(): string;
  /** The records now; throws when they cannot be read (the previous ones stay in force). */
  read(): AgentRecord[];
}

/** The agents file: `agents.json`, changed under its lock file and renamed into place. */
export class AgentFileSource implements AgentSource {
  readonly where: string;
  readonly #lockStaleMs: number;

  constructor(path: string, lockStaleMs: number) {
    this.where = path;
    this.#lockStaleMs = lockStaleMs;
  }

  signature(): string {
    return fileSignature(this.where);
  }

  read(): AgentRecord[] {
    return readAgentsFile(this.where);
  }

  /**
   * Read-modify-write under the lock, from the file as it is now (not a possibly stale copy);
   * returns the records written and the file's new signature.
   */
  mutate(change: (records: AgentRecord[]) => void): [AgentRecord[], string] {
    return withFileLock(`${this.where}.lock`, () => {
      // A corrupt file throws here: never overwrite what we could not read.
      const records = readAgentsFile(this.where);
      change(records);
      writeAgentsFile(this.where, records);
      return [records, fileSignature(this.where)] as [AgentRecord[], string];
    }, { staleMs: this.#lockStaleMs });
  }
}
