import { deepStrictEqual, equal, rejects } from "node:assert/strict";
import { type GoInstance, hclInProcess, REGISTRY } from "./_hcl.ts";

Deno.test("hclInProcess(): loads started together each get their own runtime and answers", async () => {
  const [a, b] = [hclInProcess(), hclInProcess()];
  const [x, y] = await Promise.all([a("a.hcl", "x = 1\n"), b("b.hcl", 'y = "two"\n')]);
  deepStrictEqual(x, { x: 1 });
  deepStrictEqual(y, { y: "two" });
  // One runtime serves every file of its load, in turn.
  deepStrictEqual(await a("c.hcl", "z = true\n"), { z: true });
  await rejects(a("d.hcl", "z = \n"), /d\.hcl:1/);
});

Deno.test("hclInProcess(): a finished load leaves no Go runtime behind", async () => {
  // A process of its own, to collect garbage on demand.
  const script = `
    import { hclInProcess, runtimesAlive } from ${JSON.stringify(import.meta.resolve("./_hcl.ts"))};
    async function load() { await hclInProcess()("a.hcl", "x = 1\\n"); }
    await load();
    await load();
    const alive = runtimesAlive();
    for (let i = 0; i < 5; i++) { gc(); await new Promise((r) => setTimeout(r, 50)); }
    console.log(JSON.stringify({ before: alive, after: runtimesAlive() }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  equal(out.code, 0, new TextDecoder().decode(out.stderr));
  deepStrictEqual(JSON.parse(text), { before: 2, after: 0 });
});

/** A stand-in Go program: `register` runs when it starts; it stops when `stop` is called. */
function fakeProgram(register: (registry: Record<string, unknown>, stop: () => void) => void) {
  return () => {
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => stop = resolve);
    const go: GoInstance = {
      importObject: {},
      run: () => {
        register(
          (globalThis as unknown as Record<string, Record<string, unknown>>)[REGISTRY],
          stop,
        );
        return stopped;
      },
    };
    return Promise.resolve({ go, instance: {} as WebAssembly.Instance });
  };
}

Deno.test("hclInProcess(): a Go program that stops before registering fails the load", async () => {
  const parse = hclInProcess(fakeProgram((_, stop) => stop()));
  await rejects(parse("a.hcl", "x = 1\n"), /HCL parser did not start/);
});

Deno.test("hclInProcess(): a Go program that stops mid-parse fails the parse instead of hanging it", async () => {
  const parse = hclInProcess(fakeProgram((registry, stop) => {
    // Registers, then stops on its first parse without ever calling back.
    registry.parse = () => stop();
  }));
  await rejects(parse("a.hcl", "x = 1\n"), /HCL parser stopped/);
});
