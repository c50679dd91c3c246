import { equal, match, notEqual, ok, throws } from "node:assert/strict";
import { join } from "node:path";
import {
  ADMIN_TOKEN_FILE,
  adminTokenMatches,
  ensureAdminToken,
  generateAdminToken,
  hashAdminToken,
  readAdminTokenFile,
} from "./token.ts";

async function withDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_admin_token_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("generateAdminToken() is cpadm_ plus base64url of 32 random bytes", () => {
  const token = generateAdminToken();
  match(token, /^cpadm_[A-Za-z0-9_-]{43}$/);
  notEqual(generateAdminToken(), token);
});

Deno.test("adminTokenMatches() accepts only the token whose hash it holds", () => {
  const token = generateAdminToken();
  const hash = hashAdminToken(token);
  equal(hash.length, 32);
  ok(adminTokenMatches(hash, token));
  ok(!adminTokenMatches(hash, generateAdminToken()));
  ok(!adminTokenMatches(hash, ""));
  ok(!adminTokenMatches(hash, token.slice(0, -1)));
  ok(!adminTokenMatches(new Uint8Array(0), token), "an empty hash matched");
});

Deno.test("ensureAdminToken() creates a 0600 token file once, then reads the same one", async () => {
  await withDir((dir) => {
    const created: string[] = [];
    const first = ensureAdminToken(dir, { onCreated: (path) => created.push(path) });
    const path = join(dir, ADMIN_TOKEN_FILE);
    equal(first.created, true);
    equal(first.path, path);
    equal(created.length, 1);
    equal(Deno.statSync(path).mode! & 0o777, 0o600);
    const token = readAdminTokenFile(path);
    ok(adminTokenMatches(first.hash, token));
    const again = ensureAdminToken(dir, { onCreated: (p) => created.push(p) });
    equal(again.created, false);
    equal(created.length, 1);
    ok(adminTokenMatches(again.hash, token));
    equal([...Deno.readDirSync(dir)].length, 1, "a temp file was left behind");
  });
});

Deno.test("readAdminTokenFile() refuses a file others can read, naming the chmod", async () => {
  await withDir((dir) => {
    const { path } = ensureAdminToken(dir);
    Deno.chmodSync(path, 0o644);
    throws(
      () => readAdminTokenFile(path),
      new RegExp(`is readable by other users \\(mode 644\\): run 'chmod 600 ${path}'`),
    );
    throws(() => ensureAdminToken(dir), /chmod 600/);
  });
});

Deno.test("readAdminTokenFile() refuses a file without a token, without echoing its content", async () => {
  await withDir((dir) => {
    const path = join(dir, ADMIN_TOKEN_FILE);
    Deno.writeTextFileSync(path, "hunter2-secret\n", { mode: 0o600 });
    throws(() => readAdminTokenFile(path), (err: Error) => {
      match(err.message, /does not hold an admin token/);
      ok(!err.message.includes("hunter2"));
      return true;
    });
    throws(() => readAdminTokenFile(join(dir, "missing")), Deno.errors.NotFound);
  });
});
