/**
 * The dashboard's writes into the config: "Block requests like this" (check or append a rule)
 * and "Promote to enforce". The routes reach here signed in and with the CSRF token checked;
 * what may be written, and whether the config stays valid, the gateway decides
 * (`DashboardConfig`): writes off or an invalid config means nothing is written.
 *
 * @module
 */

import type { Receipt } from "../core/mod.ts";
import type { DashboardOptions } from "./dashboard.ts";
import { blockRuleText } from "./_block_rule.ts";
import { type BlockView, receiptPage } from "./_receipt_page.ts";
import { htmlResponse, seeOther } from "./_respond.ts";
import { rulesPage, rulesReport } from "./_rules_page.ts";
import type { Session } from "./_sessions.ts";

/** The "Block requests like this" view of a receipt, or none (no config, or no rule to make). */
export async function blockViewOf(
  options: DashboardOptions,
  receipt: Receipt,
): Promise<BlockView | undefined> {
  const config = options.config;
  if (!config || receipt.endpoint === null) return undefined;
  const priorities = config.rules().filter((r) => r.endpoints.includes(receipt.endpoint!))
    .map((r) => r.priority);
  const text = blockRuleText(receipt, { priority: Math.max(0, ...priorities) + 1 });
  if (text === null) return undefined;
  return { text, writes: config.writesEnabled(), rulesFile: await config.rulesFile() };
}

/**
 * A submitted rule: `action=check` validates it against the whole config; `action=write`
 * appends it (with a comment naming the operator and the receipt) when writes are on and it is
 * valid, then shows the Rules page.
 */
export async function blockRoute(
  options: DashboardOptions,
  session: Session,
  receipt: Receipt,
  form: URLSearchParams,
  fixture: boolean,
): Promise<Response> {
  const view = await blockViewOf(options, receipt);
  const config = options.config;
  if (!view || !config) return htmlResponse(receiptPage(session, receipt, fixture), 404);
  const text = (form.get("rule") ?? "").replace(/\r\n/g, "\n");
  const page = (status: number, extra: Partial<BlockView>) =>
    htmlResponse(receiptPage(session, receipt, fixture, { ...view, text, ...extra }), status);
  if (text.trim() === "") return page(400, { problems: ["The rule is empty"] });
  if (form.get("action") !== "write") {
    const problems = await config.checkRule(text);
    if (problems.length > 0) return page(422, { problems });
    return page(200, { message: "Valid: the whole config loads with this rule." });
  }
  const who = `dashboard:${session.name.replace(/[^\w.@ -]/g, "_")}`;
  const comment = `# Added by ${who} from receipt ${receipt.id}, ${new Date().toISOString()}`;
  const result = await config.appendRule(`${comment}\n${text.trim()}`);
  if (!result.ok) {
    return page(config.writesEnabled() ? 422 : 403, { problems: result.problems });
  }
  options.log?.("info", `${who} wrote a rule to ${result.file} from receipt ${receipt.id}`);
  return seeOther(`/ui/rules?result=${result.reloaded ? "written" : "written-not-reloaded"}`);
}

/** Sets an observe-mode rule to enforce, when writes are on and the config stays valid. */
export async function promoteRoute(
  options: DashboardOptions,
  session: Session,
  name: string,
): Promise<Response> {
  const config = options.config;
  const result = config
    ? await config.promoteRule(name)
    : { ok: false as const, problems: ["This gateway gives the dashboard no config to write"] };
  if (!result.ok) {
    const status = config?.writesEnabled() ? 422 : 403;
    const page = rulesPage(session, options, await rulesReport(options), {
      problems: result.problems,
    });
    return htmlResponse(page, status);
  }
  options.log?.("info", `dashboard:${session.name} promoted rule '${name}' to enforce`);
  return seeOther(`/ui/rules?result=${result.reloaded ? "promoted" : "written-not-reloaded"}`);
}

/** The message for a `?result=` after a write. */
export function resultMessage(result: string | null): string | undefined {
  switch (result) {
    case "written":
      return "Rule written; the gateway reloaded its config and decides with it now.";
    case "promoted":
      return "Rule promoted to enforce; the gateway reloaded its config and enforces it now.";
    case "written-not-reloaded":
      return "Written, but the gateway did not reload: see its log.";
    default:
      return undefined;
  }
}
