// The launcher puts the allocator settings (MALLOC_TUNABLES) in the environment of both its steps,
// and keeps a GLIBC_TUNABLES the caller set, an empty one included.
import { equal } from "node:assert/strict";
import { join } from "node:path";
import { MALLOC_TUNABLES } from "../src/cli/_runtime_flags.ts";
import { REPO, withTempDir } from "./_helpers.ts";

/**
 * Runs launcher.sh with a stand-in for deno that prints what each of its two calls saw: the grant
 * step prints no flags, the command step prints GLIBC_TUNABLES (or `unset`).
 */
async function tunablesSeen(dir: string, env: Record<string, string>): Promise<string[]> {
  const fake = join(dir, "deno");
  await Deno.writeTextFile(
    fake,
    `#!/bin/sh\nprintf '%s\\n' "\${GLIBC_TUNABLES-unset}" >> "${dir}/seen"\n`,
  );
  await Deno.chmod(fake, 0o755);
  await Deno.remove(join(dir, "seen")).catch(() => {});
  const env0 = { ...env, CLAWPATROL_DENO: fake, CLAWPATROL_LIB: REPO, PATH: Deno.env.get("PATH")! };
  const out = await new Deno.Command("sh", {
    args: [join(REPO, "launcher.sh"), "version"],
    cwd: dir,
    env: env0,
    clearEnv: true,
  }).output();
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return (await Deno.readTextFile(join(dir, "seen"))).split("\n").slice(0, -1);
}

Deno.test("the launcher exports MALLOC_TUNABLES to both steps unless GLIBC_TUNABLES is set", async () => {
  await withTempDir(async (dir) => {
    const home = { HOME: dir };
    equal(MALLOC_TUNABLES.length > 0, true);
    // The grant step and the command itself.
    equal((await tunablesSeen(dir, home)).join(), [MALLOC_TUNABLES, MALLOC_TUNABLES].join());
    const own = "glibc.malloc.arena_max=2";
    equal((await tunablesSeen(dir, { ...home, GLIBC_TUNABLES: own })).join(), [own, own].join());
    equal((await tunablesSeen(dir, { ...home, GLIBC_TUNABLES: "" })).join(), ["", ""].join());
  });
});
