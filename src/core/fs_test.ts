import {
  deepStrictEqual as assertEquals,
  ok,
  rejects,
  strictEqual,
  throws,
} from "node:assert/strict";
import { join } from "node:path";
import { writeFileAtomic, writeFileAtomicSync } from "./fs.ts";

const encode = (s: string) => new TextEncoder().encode(s);
const modeOf = (path: string) => Deno.statSync(path).mode! & 0o777;

async function withDir(fn: (dir: string) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `fn` under `mask`, restoring the process umask after (it is process-wide). */
async function withUmask(mask: number, fn: () => void | Promise<void>): Promise<void> {
  const before = Deno.umask(mask);
  try {
    await fn();
  } finally {
    Deno.umask(before);
  }
}

const names = (dir: string) => [...Deno.readDirSync(dir)].map((e) => e.name).sort();

Deno.test("writeFileAtomic() writes the bytes as a 0600 file and leaves no temporary file", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "master.key");
    await writeFileAtomic(path, encode("secret\n"));
    strictEqual(Deno.readTextFileSync(path), "secret\n");
    strictEqual(modeOf(path), 0o600);
    assertEquals(names(dir), ["master.key"]);
  });
});

Deno.test("writeFileAtomic() keeps 0600 under a permissive umask and makes it exact under a narrow one", async () => {
  await withDir(async (dir) => {
    await withUmask(0o000, () => writeFileAtomic(join(dir, "open"), encode("x")));
    strictEqual(modeOf(join(dir, "open")), 0o600);
    // 0o277 would leave 0400 (owner cannot write): the chmod restores exactly 0600.
    await withUmask(0o277, () => writeFileAtomic(join(dir, "narrow"), encode("x")));
    strictEqual(modeOf(join(dir, "narrow")), 0o600);
    await withUmask(0o077, () => writeFileAtomic(join(dir, "cert"), encode("x"), { mode: 0o644 }));
    strictEqual(modeOf(join(dir, "cert")), 0o644);
  });
});

Deno.test("writeFileAtomic() replaces an existing file by rename: an open reader keeps the old bytes", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "agents.json");
    Deno.writeTextFileSync(path, "old contents");
    const inode = Deno.statSync(path).ino;
    using reader = Deno.openSync(path);
    await writeFileAtomic(path, encode("new"));
    strictEqual(Deno.readTextFileSync(path), "new");
    ok(Deno.statSync(path).ino !== inode, "the file was rewritten in place");
    const old = new Uint8Array(32);
    const n = reader.readSync(old)!;
    strictEqual(new TextDecoder().decode(old.subarray(0, n)), "old contents");
    strictEqual(modeOf(path), 0o600);
  });
});

Deno.test("writeFileAtomic() with overwrite: false refuses an existing file and leaves it as it was", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "ca.key");
    Deno.writeTextFileSync(path, "precious", { mode: 0o640 });
    await rejects(
      writeFileAtomic(path, encode("other"), { overwrite: false }),
      Deno.errors.AlreadyExists,
    );
    strictEqual(Deno.readTextFileSync(path), "precious");
    assertEquals(names(dir), ["ca.key"]);
    await writeFileAtomic(join(dir, "new.key"), encode("fresh"), { overwrite: false });
    strictEqual(Deno.readTextFileSync(join(dir, "new.key")), "fresh");
    assertEquals(names(dir), ["ca.key", "new.key"]);
  });
});

Deno.test("writeFileAtomic() that fails after writing leaves the target untouched and no partial file", async () => {
  await withDir(async (dir) => {
    // A non-empty directory at the target: the bytes are written and synced, then the rename fails.
    const path = join(dir, "busy");
    Deno.mkdirSync(path);
    Deno.writeTextFileSync(join(path, "inside"), "kept");
    await rejects(writeFileAtomic(path, encode("x".repeat(100_000))));
    assertEquals(names(dir), ["busy"]);
    strictEqual(Deno.readTextFileSync(join(path, "inside")), "kept");
  });
});

Deno.test("writeFileAtomic() into a missing directory fails and creates nothing", async () => {
  await withDir(async (dir) => {
    await rejects(writeFileAtomic(join(dir, "no", "file"), encode("x")), Deno.errors.NotFound);
    assertEquals(names(dir), []);
  });
});

Deno.test("writeFileAtomicSync() writes, replaces and refuses as writeFileAtomic() does", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "admin.token");
    await withUmask(0o000, () => writeFileAtomicSync(path, encode("one")));
    strictEqual(modeOf(path), 0o600);
    const inode = Deno.statSync(path).ino;
    writeFileAtomicSync(path, encode("two"));
    strictEqual(Deno.readTextFileSync(path), "two");
    ok(Deno.statSync(path).ino !== inode);
    throws(
      () => writeFileAtomicSync(path, encode("three"), { overwrite: false }),
      Deno.errors.AlreadyExists,
    );
    strictEqual(Deno.readTextFileSync(path), "two");
    assertEquals(names(dir), ["admin.token"]);
  });
});

Deno.test("writeFileAtomicSync() hands a fill function the empty 0600 temporary file, then places it", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "vault.db");
    let seen = "";
    await withUmask(0o000, () =>
      writeFileAtomicSync(path, (tmp) => {
        seen = tmp;
        strictEqual(Deno.statSync(tmp).size, 0);
        strictEqual(modeOf(tmp), 0o600);
        Deno.writeTextFileSync(tmp, "filled");
      }, { overwrite: false }));
    ok(seen.startsWith(`${path}.tmp-`), seen);
    strictEqual(Deno.readTextFileSync(path), "filled");
    assertEquals(names(dir), ["vault.db"]);
  });
});

Deno.test("writeFileAtomicSync() whose fill function throws leaves no file and no partial file", async () => {
  await withDir((dir) => {
    const path = join(dir, "vault.db");
    throws(
      () =>
        writeFileAtomicSync(path, (tmp) => {
          Deno.writeTextFileSync(tmp, "half");
          throw new Error("disk full");
        }),
      /disk full/,
    );
    assertEquals(names(dir), []);
  });
});
