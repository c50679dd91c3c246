/**
 * The Rules page: each rule of the config in force with its hits by verdict over the last day
 * (a small server-drawn SVG chart; no script, no library), and for observe-mode rules the
 * would-be denies with example receipts and how many agents hit them, and "Promote to enforce".
 * The figures are `clawpatrol report`'s (`rolloutReport`), over the same receipts.
 *
 * @module
 */

import { type RolloutReport, rolloutReport, type RuleBucket } from "../audit/mod.ts";
import type { DashboardOptions, DashboardRule } from "./dashboard.ts";
import { type Html, html } from "./_html.ts";
import { layout } from "./_layout.ts";
import type { Session } from "./_sessions.ts";

/** The chart's window: the last 24 hours, one bar per hour. */
export const WINDOW_MS = 24 * 3600_000;
export const BUCKET_MS = 3600_000;
/** Receipts the page reads at most (the newest), so a busy day stays a bounded read. */
export const MOST_RECEIPTS = 50_000;

/** What the page shows after a write: done, or every problem. */
export interface RulesNotice {
  message?: string;
  problems?: string[];
}

/**
 * The report behind the page, over the window's receipts: off the gateway's thread when it gives
 * a way (`rulesReport`), else here.
 */
export async function rulesReport(
  options: DashboardOptions,
  now = Date.now(),
): Promise<RolloutReport> {
  const filter = { since: new Date(now - WINDOW_MS), limit: MOST_RECEIPTS };
  const bucketed = { bucketMs: BUCKET_MS };
  if (options.rulesReport) return await options.rulesReport(filter, bucketed);
  return rolloutReport(options.receipts(filter), bucketed);
}

/** The page. */
export function rulesPage(
  session: Session,
  options: DashboardOptions,
  report: RolloutReport,
  notice: RulesNotice = {},
  now = Date.now(),
): Html {
  const config = options.config;
  const rules = config?.rules() ?? [];
  const writes = config?.writesEnabled() ?? false;
  const dryRun = options.gatewayMode() === "observe";
  const sections = rules.map((rule) => ruleSection(session, rule, report, { writes, dryRun, now }));
  return layout(
    "Rules",
    session,
    "/ui/rules",
    html`
      ${noticeOf(notice)}
      <p>Hits in the last 24 hours, by verdict (${report.receipts} receipts${report.receipts >=
          MOST_RECEIPTS
        ? `, the newest ${MOST_RECEIPTS}`
        : ""}). Gateway mode: <strong>${options.gatewayMode()}</strong>. For the whole
      history: <code>clawpatrol report --since 7d</code>.</p>
      ${writes ? "" : html`<p class="notice" id="writes-off">Writes from the dashboard are off:
      promote a rule by setting <code>mode = "enforce"</code> in its file, or set
      <code>dashboard_config_writes = true</code> in the <code>gateway</code> block to do it
      from here.</p>`}
      ${sections.length > 0 ? sections : html`<p>The config has no rules.</p>`}
    `,
  );
}

function noticeOf(notice: RulesNotice): Html | string {
  if (notice.problems?.length) {
    return html`
      <div class="error" role="alert" id="rule-problems">
        <p>Nothing was written:</p>
        <ul>${notice.problems.map((p) => html`<li>${p}</li>`)}</ul>
      </div>
    `;
  }
  return notice.message
    ? html`<p class="notice" role="status" id="rule-result">${notice.message}</p>`
    : "";
}

function ruleSection(
  session: Session,
  rule: DashboardRule,
  report: RolloutReport,
  { writes, dryRun, now }: { writes: boolean; dryRun: boolean; now: number },
): Html {
  const rows = report.rules.filter((h) => h.rule === rule.name);
  const total = (k: "allow" | "deny" | "held") => rows.reduce((n, h) => n + h[k], 0);
  const timeline = mergeTimelines(rows.flatMap((h) => h.timeline ?? []));
  const candidate = report.candidates.find((c) => c.rule === rule.name);
  const observing = rule.mode === "observe";
  const id = `rule-${rule.name}`;
  return html`
    <section class="rule" id="${id}" data-rule="${rule.name}">
      <h2>${rule.name} <span class="badge ${observing ? "observe" : "enforce"}">${rule.mode ??
        "gateway mode"}</span></h2>
      <p>${rule.outcome} on ${rule.endpoints.join(", ")}, priority ${rule.priority};
      <code>${rule.file}:${rule.line}</code></p>
      <p class="hits">allow <strong class="allow-count">${total("allow")}</strong> · deny
      <strong class="deny-count">${total("deny")}</strong> · held
      <strong class="held-count">${total("held")}</strong></p>
      ${chart(rule.name, timeline, now)}
      ${observing || dryRun ? observed(session, rule, candidate, writes && observing) : ""}
    </section>
  `;
}

function observed(
  session: Session,
  rule: DashboardRule,
  candidate: RolloutReport["candidates"][number] | undefined,
  promotable: boolean,
): Html {
  const examples = (candidate?.examples ?? []).map((e) =>
    html`<li><a href="/ui/receipts/${e.id}">${e.id}</a> ${e.agent ?? "-"}: ${e.summary}</li>`
  );
  return html`
    <div class="would-deny">
      <p>Would have denied <strong class="would-deny-count">${candidate?.wouldDeny ??
        0}</strong> actions of <strong class="agents-count">${candidate?.agents ??
        0}</strong> agents.</p>
      ${examples.length > 0 ? html`<ul class="examples">${examples}</ul>` : ""}
      ${promotable
        ? html`
          <form method="post" action="/ui/rules/${encodeURIComponent(rule.name)}/promote"
            class="inline"><input type="hidden" name="csrf" value="${session.csrf}">
          <button type="submit" class="promote">Promote ${rule.name} to enforce</button></form>
        `
        : ""}
    </div>
  `;
}

/** Buckets of the same start added up (a rule can have hits in both modes). */
function mergeTimelines(buckets: RuleBucket[]): Map<string, RuleBucket> {
  const merged = new Map<string, RuleBucket>();
  for (const b of buckets) {
    const m = merged.get(b.start) ?? { start: b.start, allow: 0, deny: 0, held: 0 };
    m.allow += b.allow;
    m.deny += b.deny;
    m.held += b.held;
    merged.set(b.start, m);
  }
  return merged;
}

const BAR_WIDTH = 10;
const CHART_HEIGHT = 48;

/** Stacked bars, one per hour of the window; each bar's title gives its counts. */
function chart(name: string, timeline: Map<string, RuleBucket>, now: number): Html {
  const first = Math.floor((now - WINDOW_MS) / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
  const hours = Array.from({ length: WINDOW_MS / BUCKET_MS }, (_, i) => first + i * BUCKET_MS);
  const buckets = hours.map((t) => {
    const start = new Date(t).toISOString();
    return timeline.get(start) ?? { start, allow: 0, deny: 0, held: 0 };
  });
  const peak = Math.max(1, ...buckets.map((b) => b.allow + b.deny + b.held));
  const bars = buckets.map((b, i) => {
    let y = CHART_HEIGHT;
    const parts = (["allow", "deny", "held"] as const).map((k) => {
      const h = Math.round((b[k] / peak) * CHART_HEIGHT);
      y -= h;
      return h > 0
        ? html`
          <rect class="${k}" x="${i * BAR_WIDTH}" y="${y}" width="${BAR_WIDTH - 2}"
            height="${h}"></rect>
        `
        : "";
    });
    const label = `${b.start.slice(11, 16)} UTC: ${b.allow} allow, ${b.deny} deny, ${b.held} held`;
    return html`<g><title>${label}</title>${parts}</g>`;
  });
  const width = buckets.length * BAR_WIDTH;
  return html`
    <svg class="chart" role="img" width="${width}" height="${CHART_HEIGHT}"
      viewBox="0 0 ${width} ${CHART_HEIGHT}"
      aria-label="Hits of ${name} per hour, last 24 hours">${bars}</svg>
  `;
}
