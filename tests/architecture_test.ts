// The import directions of DESIGN.md §2, checked on the real module graph (`deno info --json`),
// and the checker itself shown to catch a protocol importing policy.
import { deepEqual, equal, ok } from "node:assert/strict";
import { relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The composition root may import every folder below it. */
const GATEWAY_MAY_IMPORT: readonly string[] = [
  "pipeline",
  "protocols",
  "net",
  "transparent",
  "policy",
  "credentials",
  "approvals",
  "tls",
  "audit",
  "agents",
  "store",
  "config",
  "admin",
  "dashboard",
  "core",
];

/**
 * What each `src/` folder may import besides itself, from DESIGN.md §2:
 * `main -> cli -> gateway -> {…} -> core`, with the exceptions the text names. A folder missing
 * here fails the test, so a new folder comes with its row. `protocols` stands for the registry
 * (files directly in `src/protocols/`), `protocols/*` for each protocol's folder; an entry allows
 * a folder and everything under it (`protocols` allows the registry and every protocol).
 */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  core: [],
  // Transparent interception's pure parts (virtual IPs, the DNS answers): they import nothing.
  transparent: [],
  // It checks `vip_range` with the parser the gateway allocates with.
  config: ["core", "transparent"],
  // Compiles a Config; the registered facets arrive as data.
  policy: ["core", "config"],
  audit: ["core"],
  credentials: ["core"],
  tls: ["core"],
  agents: ["core"],
  // The shared PostgreSQL (DESIGN.md §10): it keeps the agents, held approvals and a copy of
  // each gateway's receipt chain, and reads its settings from the config.
  store: ["core", "config", "agents", "approvals", "audit"],
  // Approvers are configured by the config's approver blocks.
  approvals: ["core", "config"],
  // The admin API answers held approvals.
  admin: ["core", "approvals"],
  // The operator console: held approvals and receipts, through what the gateway hands it.
  dashboard: ["core", "approvals", "audit"],
  // One action's way: the rules decide, a chain approves, the store records; facts are redacted.
  pipeline: ["core", "policy", "approvals", "audit", "credentials"],
  // The sockets towards agents: listening, accepting, TLS. Protocols get them through services.
  net: ["core"],
  "protocols/*": ["core"],
  // Kubernetes facts compose http's, and it rides the HTTP exchange.
  "protocols/kubernetes": ["core", "protocols/http"],
  // AWS facts compose http's too, and its endpoints are read with the https schema.
  "protocols/aws": ["core", "protocols/http"],
  // The registry lists every protocol.
  protocols: ["core", "protocols/*"],
  gateway: GATEWAY_MAY_IMPORT,
  // The CLI composes like the gateway, and drives it.
  cli: ["gateway", ...GATEWAY_MAY_IMPORT],
};

/** Sentences of DESIGN.md §2 the table must never contradict, whatever rows it grows. */
const NEVER: readonly [string, readonly string[]][] = [
  ["protocols/*", ["policy", "credentials", "approvals", "audit", "net"]],
  ["config", ["protocols"]],
  ["policy", ["protocols"]],
  ["audit", ["protocols"]],
  // `pipeline/` decides; sessions and the composition root call it, never the other way.
  ["pipeline", ["protocols", "gateway"]],
];

/** One import between two files under `src/`, as paths relative to `src/`. */
interface Edge {
  from: string;
  to: string;
}

/** An import the table does not allow, or a file in a folder the table does not know. */
interface Violation {
  from: string;
  to: string;
  why: string;
}

/** The folder a file under `src/` belongs to: `policy`, `protocols/http`, or `protocols`. */
function folderOf(path: string): string {
  const parts = path.split("/");
  if (parts[0] === "protocols" && parts.length > 2) return `protocols/${parts[1]}`;
  return parts[0];
}

/** The table's row for a folder: its own, else its parent's wildcard row. */
function rowOf(folder: string, table: typeof MAY_IMPORT): readonly string[] | undefined {
  if (Object.hasOwn(table, folder)) return table[folder];
  const parent = folder.split("/").slice(0, -1).join("/");
  return parent && Object.hasOwn(table, `${parent}/*`) ? table[`${parent}/*`] : undefined;
}

/** Whether an allow-list entry covers a folder (`protocols/*` also covers `protocols/http`). */
function covers(entry: string, folder: string): boolean {
  const base = entry.endsWith("/*") ? entry.slice(0, -2) : entry;
  if (entry.endsWith("/*")) return folder.startsWith(`${base}/`);
  return folder === base || folder.startsWith(`${base}/`);
}

/** Every edge between two folders that the table does not allow. */
function violations(edges: readonly Edge[], table = MAY_IMPORT): Violation[] {
  const found: Violation[] = [];
  for (const { from, to } of edges) {
    const source = folderOf(from);
    const target = folderOf(to);
    if (source === target) continue;
    const row = rowOf(source, table);
    if (!row) {
      found.push({ from, to, why: `folder '${source}' has no row in MAY_IMPORT` });
    } else if (!row.some((entry) => covers(entry, target))) {
      found.push({ from, to, why: `${source} may not import ${target}` });
    }
  }
  return found;
}

/** The imports between files under `src/`, from one `deno info --json` of the entry point. */
async function sourceEdges(entry: string, src: string): Promise<Edge[]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  equal(code, 0, decode(stderr));
  const graph = JSON.parse(decode(stdout)) as {
    modules: { specifier: string; dependencies?: DenoDependency[] }[];
  };
  const under = (url: string | undefined): string | null => {
    if (!url?.startsWith("file:")) return null;
    const path = relative(src, fileURLToPath(url));
    return path.startsWith("..") ? null : path.replaceAll("\\", "/");
  };
  const edges: Edge[] = [];
  for (const module of graph.modules) {
    const from = under(module.specifier);
    if (from === null) continue;
    for (const dependency of module.dependencies ?? []) {
      // Type-only imports are directions too: config must not even name a protocol's types.
      for (const to of [dependency.code?.specifier, dependency.type?.specifier].map(under)) {
        if (to !== null) edges.push({ from, to });
      }
    }
  }
  return edges;
}

interface DenoDependency {
  code?: { specifier?: string };
  type?: { specifier?: string };
}

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const SRC = resolve(ROOT, "src");

Deno.test("every import between src/ folders follows DESIGN.md §2", async () => {
  const edges = await sourceEdges(resolve(ROOT, "main.ts"), SRC);
  // The graph really is the gateway's: a checker fed nothing would pass anything.
  ok(edges.some((e) => e.from.startsWith("gateway/") && e.to.startsWith("protocols/")));
  ok(edges.some((e) => e.from.startsWith("protocols/")), "no protocol module in the graph");
  const found = violations(edges);
  deepEqual(
    found.map((v) => `${v.from} -> ${v.to}: ${v.why}`),
    [],
    "imports against DESIGN.md §2",
  );
});

Deno.test("the checker reports a protocol importing policy, and a folder without a row", () => {
  const found = violations([
    { from: "protocols/postgres/session.ts", to: "policy/mod.ts" },
    { from: "protocols/kubernetes/facts.ts", to: "protocols/http/mod.ts" },
    { from: "protocols/http/facts.ts", to: "protocols/kubernetes/mod.ts" },
    { from: "config/load.ts", to: "protocols/registry.ts" },
    { from: "gateway/gateway.ts", to: "protocols/registry.ts" },
    { from: "plugins/x.ts", to: "core/mod.ts" },
  ]);
  deepEqual(found.map((v) => v.why), [
    "protocols/postgres may not import policy",
    "protocols/http may not import protocols/kubernetes",
    "config may not import protocols",
    "folder 'plugins' has no row in MAY_IMPORT",
  ]);
});

Deno.test("the import table keeps DESIGN.md's prohibitions and has no cycles", () => {
  equal(MAY_IMPORT.core.length, 0, "core imports nothing");
  for (const [folder, forbidden] of NEVER) {
    const row = rowOf(folder, MAY_IMPORT) ?? [];
    for (const target of forbidden) {
      const allowed = row.filter((entry) => covers(entry, target) || covers(target, entry));
      deepEqual(allowed, [], `${folder} must never import ${target}`);
    }
  }
  // Folder-level cycles: a depth-first walk over the table's own rows.
  const folders = Object.keys(MAY_IMPORT);
  const state = new Map<string, "open" | "done">();
  const visit = (folder: string, path: string[]): void => {
    if (state.get(folder) === "done") return;
    ok(state.get(folder) !== "open", `cycle: ${[...path, folder].join(" -> ")}`);
    state.set(folder, "open");
    for (const entry of MAY_IMPORT[folder]) {
      for (const next of folders.filter((f) => f !== folder && covers(entry, f))) {
        visit(next, [...path, folder]);
      }
    }
    state.set(folder, "done");
  };
  for (const folder of folders) visit(folder, []);
});
