import { equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { acquireStateLock, LOCK_FILE } from "./_state_lock.ts";

const MODULE = new URL("./_state_lock.ts", import.meta.url).href;

async function withStateDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_lock_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A child process that takes the lock under the gateway's own permissions (read and write on the
 * state directory, no run, no sys), says "locked", then waits to be killed.
 */
async function lockingChild(stateDir: string) {
  const scriptDir = await Deno.makeTempDir({ prefix: "clawpatrol_lock_child_" });
  const script = join(scriptDir, "hold.ts");
  await Deno.writeTextFile(
    script,
    `import { acquireStateLock } from ${JSON.stringify(MODULE)};
await acquireStateLock(${JSON.stringify(stateDir)});
console.log("locked");
setInterval(() => {}, 60_000);
`,
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--no-config",
      `--allow-read=${stateDir}`,
      `--allow-write=${stateDir}`,
      script,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!seen.includes("locked\n")) {
    const { value, done } = await reader.read();
    if (done) {
      await Deno.remove(scriptDir, { recursive: true });
      const stderr = await new Response(child.stderr).text();
      throw new Error(`The locking child exited before it locked: ${stderr}`);
    }
    seen += value;
  }
  const stop = async () => {
    child.kill("SIGKILL");
    await reader.cancel();
    await child.stderr.cancel();
    const status = await child.status;
    await Deno.remove(scriptDir, { recursive: true });
    return status;
  };
  return { pid: child.pid, stop };
}

Deno.test("acquireStateLock() refuses a second gateway, naming the first one's pid", async () => {
  await withStateDir(async (dir) => {
    const first = await acquireStateLock(dir);
    try {
      equal(first.path, join(dir, LOCK_FILE));
      equal(await Deno.readTextFile(first.path), `${Deno.pid}\n`);
      equal((await Deno.stat(first.path)).mode! & 0o777, 0o600);
      // Another open of the same file in the same process is another gateway, too.
      await rejects(acquireStateLock(dir), (err: Error) => {
        equal(
          err.message,
          `Another gateway is already running on '${dir}' (pid ${Deno.pid}): stop it first`,
        );
        return true;
      });
      // The refused attempt did not wipe the holder's pid.
      equal(await Deno.readTextFile(first.path), `${Deno.pid}\n`);
    } finally {
      first.release();
    }
    const again = await acquireStateLock(dir);
    again.release();
    again.release(); // twice is harmless
  });
});

Deno.test("acquireStateLock() is free again once the holder is killed with SIGKILL", async () => {
  await withStateDir(async (dir) => {
    const child = await lockingChild(dir);
    try {
      await rejects(acquireStateLock(dir), (err: Error) => {
        match(err.message, new RegExp(`\\(pid ${child.pid}\\): stop it first$`));
        return true;
      });
    } finally {
      equal((await child.stop()).signal, "SIGKILL");
    }
    // The lock file is still there, naming a dead pid: it must not block the restart.
    ok((await Deno.readTextFile(join(dir, LOCK_FILE))).startsWith(`${child.pid}`));
    const lock = await acquireStateLock(dir);
    try {
      equal(await Deno.readTextFile(lock.path), `${Deno.pid}\n`);
    } finally {
      lock.release();
    }
  });
});

Deno.test("acquireStateLock() tightens a lock file left with a looser mode", async () => {
  await withStateDir(async (dir) => {
    await Deno.writeTextFile(join(dir, LOCK_FILE), "12345\n", { mode: 0o644 });
    await Deno.chmod(join(dir, LOCK_FILE), 0o644);
    const lock = await acquireStateLock(dir);
    try {
      equal((await Deno.stat(lock.path)).mode! & 0o777, 0o600);
      equal(await Deno.readTextFile(lock.path), `${Deno.pid}\n`);
    } finally {
      lock.release();
    }
    // Released: emptied, so no later reader takes this pid for a holder's.
    equal(await Deno.readTextFile(join(dir, LOCK_FILE)), "");
  });
});
