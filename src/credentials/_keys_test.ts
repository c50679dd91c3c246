import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  checkPrivate,
  encodeMasterKey,
  generateMasterKey,
  parseMasterKey,
  readKeyFile,
  writeKeyFile,
} from "./_keys.ts";
import { VaultError } from "./_error.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_keys_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;

Deno.test("parseMasterKey() decodes base64 of 32 bytes, ignoring surrounding whitespace", () => {
  const key = generateMasterKey();
  deepEqual(parseMasterKey(`  ${encodeMasterKey(key)}\n`, "test"), key);
});

Deno.test("parseMasterKey() names the source and never repeats the text it refuses", () => {
  const bad = "not!base64~secretish";
  throws(
    () => parseMasterKey(bad, "CLAWPATROL_MASTER_KEY"),
    (e: Error) =>
      e instanceof VaultError && /CLAWPATROL_MASTER_KEY is not valid base64/.test(e.message) &&
      !e.message.includes(bad),
  );
  const short = btoa("0123456789abcdef");
  try {
    parseMasterKey(short, "'state/master.key'");
    ok(false, "a 16-byte key must be refused");
  } catch (e) {
    ok(e instanceof VaultError);
    match(e.message, /'state\/master\.key' is 16 bytes long, not 32/);
    ok(!e.message.includes(short));
  }
  throws(() => parseMasterKey("", "X"), /is empty/);
  throws(() => parseMasterKey("YWJj ZGVm", "X"), /not valid base64/);
});

Deno.test("writeKeyFile() writes base64 and a newline, mode 0600, and refuses to replace", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "master.key");
    const key = generateMasterKey();
    await writeKeyFile(path, key);
    equal(await mode(path), 0o600);
    const text = await Deno.readTextFile(path);
    match(text, /^[A-Za-z0-9+/]{43}=\n$/);
    deepEqual(await readKeyFile(path), key);
    await rejects(() => writeKeyFile(path, generateMasterKey()), /already exists/);
    deepEqual(await readKeyFile(path), key);
    const next = generateMasterKey();
    await writeKeyFile(path, next, { overwrite: true });
    deepEqual(await readKeyFile(path), next);
    equal(await mode(path), 0o600);
    // No temp file is left behind.
    deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["master.key"]);
  });
});

Deno.test("readKeyFile() refuses a key file others can read, with the chmod to run", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "master.key");
    await writeKeyFile(path, generateMasterKey());
    await Deno.chmod(path, 0o644);
    await rejects(
      () => readKeyFile(path),
      (e: Error) =>
        e instanceof VaultError &&
        e.message ===
          `Vault key file '${path}' is readable by other users (mode 644): run 'chmod 600 ${path}'`,
    );
  });
});

Deno.test("readKeyFile() reports a missing or malformed file by path, not by content", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "master.key");
    await rejects(() => readKeyFile(path), /Vault key file '.*master\.key' does not exist/);
    await Deno.writeTextFile(path, "hunter2!hunter2\n", { mode: 0o600 });
    await rejects(
      () => readKeyFile(path),
      (e: Error) =>
        /master\.key' is not valid base64/.test(e.message) && !/hunter2/.test(e.message),
    );
  });
});

Deno.test("checkPrivate() names what others may do and the chmod for files and directories", async () => {
  await withDir(async (dir) => {
    const sub = join(dir, "state");
    await Deno.mkdir(sub, { mode: 0o700 });
    await Deno.chmod(sub, 0o700);
    await checkPrivate(sub, "State directory");
    await Deno.chmod(sub, 0o755);
    await rejects(
      () => checkPrivate(sub, "State directory"),
      (e: Error) =>
        e.message ===
          `State directory '${sub}' is readable by other users (mode 755): run 'chmod 700 ${sub}'`,
    );
    await Deno.chmod(sub, 0o711);
    await rejects(() => checkPrivate(sub, "State directory"), /accessible by other users/);
    const file = join(dir, "f");
    await Deno.writeTextFile(file, "x");
    await Deno.chmod(file, 0o620);
    await rejects(
      () => checkPrivate(file, "Vault file"),
      /writable by other users \(mode 620\): run 'chmod 600 /,
    );
    await rejects(() => checkPrivate(join(dir, "nope"), "Vault file"), /does not exist/);
  });
});
