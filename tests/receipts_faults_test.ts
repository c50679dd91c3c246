/**
 * Disk faults under a running `clawpatrol serve` (issue 16): its state dir on a small tmpfs that
 * fills up, and on an ext4 filesystem that goes read-only. While receipts cannot be committed
 * the gateway must deny new actions with "the gateway cannot record decisions right now" and
 * `/healthz` must answer 503 naming `receipts`; a full disk that gets space back must serve again
 * by itself. Whatever the upstream executed must have a receipt in the end.
 *
 * Read-only is not made with `mount -o remount,ro`: Linux refuses that (EBUSY) while any file on
 * the filesystem is open for writing, and the gateway holds receipts.db open. An ext4 error with
 * `errors=remount-ro` is how disks go read-only in production, and it does apply under open
 * files; ext4 then stays read-only until unmounted, so that test recovers by restart.
 *
 * Needs root (mount, losetup). Skipped with a message otherwise.
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";
import { basename, join } from "node:path";
import { eventually } from "./_helpers.ts";
import {
  CANNOT_RECORD,
  type GatewayDir,
  health,
  prepareGateway,
  proxyClient,
  receiptMarkers,
  send,
  serve,
  type Served,
  startUpstream,
  type Upstream,
  verifyLog,
  WRITE_KINDS,
} from "./_crash_load.ts";

const COMMIT_INTERVAL_MS = 50;
/** Requests after the disk fails within which denials must have started. */
const MAX_REQUESTS_TO_DENY = 300;
/** Slack over one commit interval for "denies start at once" on a busy 2-core box. */
const DENY_SLACK_MS = 500;

async function run(cmd: string, ...args: string[]): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr).trim() };
}

async function must(cmd: string, ...args: string[]): Promise<void> {
  const r = await run(cmd, ...args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
}

/** Why these tests cannot run here, or null: tried for real, as the tests will do it. */
async function cannotMount(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "needs Linux";
  if (Deno.uid() !== 0) return "needs root to mount a tmpfs and a loop device";
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_probe_" });
  try {
    const tmpfs = await run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir);
    if (tmpfs.code !== 0) return `mount is not permitted here: ${tmpfs.stderr}`;
    await must("umount", dir);
    const image = join(dir, "probe.img");
    await Deno.writeFile(image, new Uint8Array(0));
    await Deno.truncate(image, 1 << 20);
    const loop = await new Deno.Command("losetup", { args: ["-f", "--show", image] }).output();
    if (loop.code !== 0) return "losetup cannot attach a loop device here";
    await must("losetup", "-d", new TextDecoder().decode(loop.stdout).trim());
    return null;
  } catch (err) {
    return String(err);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const skip = await cannotMount();
if (skip) console.warn(`receipts_faults_test: skipped: ${skip}`);

/** One request the test sent and how it ended. */
interface Sent {
  path: string;
  sentAt: number;
  status: number;
  body: string;
}

const denied = (s: Sent) => s.status === 403 && s.body.includes(CANNOT_RECORD);

/** Sends requests alternately POST and GET with unique markers. */
class Driver {
  #n = 0;
  constructor(readonly client: Deno.HttpClient, readonly phase: number) {}
  async next(): Promise<Sent> {
    const n = ++this.#n;
    const post = n % 2 === 1;
    const path = post ? `/w/p-${this.phase}-${n}` : `/r/g-${this.phase}-${n}`;
    const sentAt = Date.now();
    const res = await send(this.client, post ? "POST" : "GET", path);
    return { path, sentAt, ...res };
  }
}

/** Times (ms) of the gateway's log lines that report a receipt write failing. */
function receiptErrors(served: Served, since: number): number[] {
  return served.gw.lines
    .map((l) => l.match(/^(\S+) (?:error|warn) +(.*)$/))
    .filter((m): m is RegExpMatchArray => m !== null && /receipt/i.test(m[2]))
    .map((m) => Date.parse(m[1]))
    .filter((t) => t >= since);
}

/**
 * After the disk failed at `failedAt`, drives requests until one is denied for want of a
 * receipt, then checks the gateway fails closed: /healthz 503 naming receipts, and the next
 * requests denied too.
 */
async function expectFailClosed(served: Served, drive: Driver, failedAt: number): Promise<void> {
  const sent: Sent[] = [];
  while (!sent.some(denied) && sent.length < MAX_REQUESTS_TO_DENY) sent.push(await drive.next());
  ok(
    sent.some(denied),
    `still allowing ${sent.length} requests after the disk failed; last: ${
      JSON.stringify(sent.at(-1))
    }; gateway log:\n${served.gw.lines.slice(-10).join("\n")}`,
  );
  // Bounded, in case the deny path and the health report are updated a moment apart.
  const report = await eventually("/healthz to report unhealthy receipts", async () => {
    const r = await health(served);
    return r.status === 503 ? r : undefined;
  }, 2_000).catch(() => health(served));
  equal(report.status, 503, `healthz while receipts fail: ${JSON.stringify(report.body)}`);
  equal(report.body.status, "unhealthy");
  ok(report.body.problems?.some((p) => p.component === "receipts"), JSON.stringify(report.body));
  for (let i = 0; i < 5; i++) sent.push(await drive.next());
  const firstDeny = sent.findIndex(denied);
  const after = sent.slice(firstDeny).filter((s) => !denied(s));
  equal(after.length, 0, `allowed after the first deny: ${JSON.stringify(after)}`);
  // Denials must start about one commit interval after the first failed commit, as the log
  // dates it (any error line about receipts after the fault; absent if its wording changes).
  const firstFailure = receiptErrors(served, failedAt)[0];
  if (firstFailure !== undefined) {
    const late = sent.filter((s) =>
      s.sentAt > firstFailure + COMMIT_INTERVAL_MS + DENY_SLACK_MS && !denied(s)
    );
    equal(late.length, 0, `allowed well after the first failed commit: ${JSON.stringify(late)}`);
  }
  console.log(
    `  ${firstDeny} requests allowed after the fault before the first deny; ` +
      `first receipt error logged ${
        firstFailure === undefined ? "never" : `${firstFailure - failedAt} ms after the fault`
      }`,
  );
}

/** Service is back: /healthz 200, and GETs and POSTs go through again. */
async function expectServing(served: Served, drive: Driver, timeoutMs = 20_000): Promise<void> {
  await eventually(
    "the gateway to serve again",
    async () => {
      const report = await health(served);
      const sent = await drive.next();
      return report.status === 200 && sent.status === 200 ? true : undefined;
    },
    timeoutMs,
    100,
  );
  const again = [await drive.next(), await drive.next()];
  ok(again.every((s) => s.status === 200), JSON.stringify(again));
}

/**
 * The chain verifies and every request the upstream executed has a receipt; with
 * `readsMayBeLost` (the disk never came back while the gateway ran) only writes must, as a
 * read's receipt may still have been queued, and lost reads are reported.
 */
async function expectRecorded(
  gw: GatewayDir,
  upstream: Upstream,
  readsMayBeLost = false,
): Promise<void> {
  const verified = await verifyLog(gw.config);
  equal(verified.code, 0, verified.stdout);
  const recorded = receiptMarkers(gw.stateDir);
  const missing = upstream.seen.map((s) => s.path.split("/").at(-1)!).filter((m) =>
    !recorded.has(m)
  );
  const must = readsMayBeLost ? missing.filter((m) => WRITE_KINDS.has(m[0])) : missing;
  console.log(`  ${upstream.seen.length} executed upstream, ${missing.length} without a receipt`);
  equal(must.length, 0, `executed upstream without a receipt: ${must.join(", ")}`);
}

/** Writes until the filesystem has no space left; returns the bytes written. */
async function fill(path: string): Promise<number> {
  using file = await Deno.open(path, { write: true, create: true });
  let total = 0;
  // Big chunks first, then page-sized ones, then small ones for the last partial page.
  for (const size of [1 << 16, 4096, 256]) {
    const chunk = new Uint8Array(size).fill(0x2e);
    for (;;) {
      try {
        const n = await file.write(chunk);
        total += n;
        if (n < size) break;
      } catch (err) {
        if (!/os error 28|no space/i.test(String(err))) throw err;
        break;
      }
    }
  }
  return total;
}

/** A temp dir with `state/` as a mount point, an upstream, and cleanup of all of it. */
async function withFaultDir(
  mountState: (state: string, dir: string) => Promise<() => Promise<void>>,
  fn: (dir: string, state: string, upstream: Upstream) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "clawpatrol_faults_" });
  const state = join(dir, "state");
  await Deno.mkdir(state, { mode: 0o700 });
  const upstream = await startUpstream();
  let unmount: (() => Promise<void>) | undefined;
  try {
    unmount = await mountState(state, dir);
    await fn(dir, state, upstream);
  } finally {
    await unmount?.().catch((err) => console.error(`cleanup: ${err}`));
    await upstream.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

function closeQuietly(client: Deno.HttpClient): void {
  try {
    client.close();
  } catch {
    // Already closed on the way to a restart.
  }
}

async function umount(path: string): Promise<void> {
  // Lazy as a last resort, so a gateway that survived a failed test cannot pin the mount.
  if ((await run("umount", path)).code !== 0) await must("umount", "-l", path);
}

Deno.test({
  name: "disk full: denies with 'cannot record', /healthz 503, then resumes by itself",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await withFaultDir(async (state) => {
      await must("mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", state);
      return () => umount(state);
    }, async (dir, state, upstream) => {
      const gw = await prepareGateway({
        dir,
        upstream,
        stateDir: state,
        commitInterval: `${COMMIT_INTERVAL_MS}ms`,
      });
      const served = await serve(gw.config);
      const client = proxyClient(served, gw);
      try {
        const warm = new Driver(client, 1);
        for (let i = 0; i < 4; i++) equal((await warm.next()).status, 200);
        const filler = join(state, "filler");
        const filledAt = Date.now();
        await fill(filler);
        await expectFailClosed(served, new Driver(client, 2), filledAt);
        await Deno.remove(filler);
        await expectServing(served, new Driver(client, 3));
        await served.gw.stop("SIGTERM", 15_000);
        await expectRecorded(gw, upstream);
      } finally {
        closeQuietly(client);
        await served.gw.dispose();
      }
    });
  },
});

Deno.test({
  name: "read-only state dir: denies with 'cannot record', /healthz 503; serves after restart",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    let device = "";
    await withFaultDir(async (state, dir) => {
      const image = join(dir, "state.img");
      await Deno.writeFile(image, new Uint8Array(0));
      await Deno.truncate(image, 32 << 20);
      // No journal: an ext4 error then only flips the filesystem read-only (no journal abort).
      await must("mkfs.ext4", "-q", "-F", "-O", "^has_journal", image);
      const loop = await new Deno.Command("losetup", { args: ["-f", "--show", image] }).output();
      if (loop.code !== 0) throw new Error("losetup failed");
      device = new TextDecoder().decode(loop.stdout).trim();
      await must("mount", "-o", "errors=remount-ro", device, state);
      return async () => {
        await umount(state).catch(() => {});
        await must("losetup", "-d", device);
      };
    }, async (dir, state, upstream) => {
      const gw = await prepareGateway({
        dir,
        upstream,
        stateDir: state,
        commitInterval: `${COMMIT_INTERVAL_MS}ms`,
      });
      let served = await serve(gw.config);
      let client = proxyClient(served, gw);
      try {
        const warm = new Driver(client, 1);
        for (let i = 0; i < 4; i++) equal((await warm.next()).status, 200);
        const failedAt = Date.now();
        // The kernel's own test hook for an ext4 error: with errors=remount-ro, the filesystem
        // turns read-only at once, open files included.
        await Deno.writeTextFile(
          `/sys/fs/ext4/${basename(device)}/trigger_fs_error`,
          "clawpatrol test\n",
        );
        const probe = await Deno.writeTextFile(join(state, "probe"), "x").then(() => "", String);
        ok(/os error 30|read-only/i.test(probe), `state dir still writable: ${probe}`);
        await expectFailClosed(served, new Driver(client, 2), failedAt);

        // Stays read-only until unmounted: stop, repair, mount again, serve again.
        closeQuietly(client);
        await served.gw.stop("SIGTERM", 10_000).catch(() => served.gw.dispose());
        await must("umount", state);
        const fsck = await run("e2fsck", "-fy", device);
        ok(fsck.code <= 1, `e2fsck: ${fsck.stderr}`);
        await must("mount", "-o", "errors=remount-ro", device, state);
        served = await serve(gw.config);
        client = proxyClient(served, gw);
        await expectServing(served, new Driver(client, 3));
        await served.gw.stop("SIGTERM", 15_000);
        await expectRecorded(gw, upstream, true);
      } finally {
        closeQuietly(client);
        await served.gw.dispose();
      }
    });
  },
});
