// The clawpatrol dashboard's only script (served from this origin; the CSP allows no other).
// Everything it puts on a page goes in as text (textContent), never as markup: receipts carry
// agent-controlled strings.
"use strict";

function onSignin() {
  // `clawpatrol dashboard` prints a URL with the code in the fragment, which never reaches a
  // server or its logs; fill it in and drop it from the address bar and history.
  const match = /^#code=([A-Za-z0-9-]{1,40})$/.exec(location.hash);
  const secret = document.getElementById("secret");
  if (!match || !secret) return;
  secret.value = match[1];
  history.replaceState(null, "", location.pathname + location.search);
  document.getElementById("name")?.focus();
}

function cell(text, className) {
  const td = document.createElement("td");
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

function feedRow(row) {
  const tr = document.createElement("tr");
  tr.className = `verdict-${row.verdict} new`;
  tr.dataset.seq = String(row.seq);
  const time = document.createElement("time");
  time.dateTime = row.time;
  time.textContent = String(row.time).slice(11, 23);
  const when = document.createElement("td");
  when.append(time);
  const badge = document.createElement("span");
  badge.className = `badge ${row.verdict === "allow" ? "allow" : "deny"}`;
  badge.textContent = row.verdict;
  const verdict = document.createElement("td");
  verdict.append(badge);
  const link = document.createElement("a");
  link.href = `/ui/receipts/${encodeURIComponent(row.id)}`;
  link.textContent = row.words;
  const action = document.createElement("td");
  action.append(link);
  tr.append(when, verdict, action, cell(row.endpoint), cell(row.rule), cell(row.mode));
  tr.append(cell(row.reason));
  return tr;
}

function feedUrl(after) {
  const params = new URLSearchParams(location.search);
  if (after !== undefined) params.set("after", after);
  return `/ui/api/feed?${params}`;
}

function onFeed(table) {
  const body = table.tBodies[0];
  const status = document.getElementById("feed-status");
  const source = new EventSource(feedUrl(table.dataset.after || "0"));
  source.addEventListener("ready", () => {
    status.textContent = "Live: new decisions appear at the top.";
  });
  source.addEventListener("receipt", (event) => {
    const row = JSON.parse(event.data);
    if (body.querySelector(`tr[data-seq="${Number(row.seq)}"]`)) return;
    body.prepend(feedRow(row));
    while (body.rows.length > 500) body.deleteRow(-1);
  });
  source.addEventListener("error", () => {
    status.textContent = "Reconnecting to the live feed…";
  });
}

function onApprovals(list) {
  const tick = () => {
    for (const el of document.querySelectorAll("time.countdown")) {
      const left = Math.max(0, Math.round((Number(el.dataset.deadline) - Date.now()) / 1000));
      const m = Math.floor(left / 60);
      const s = String(left % 60).padStart(2, "0");
      el.textContent = left === 0 ? "timing out" : m > 0 ? `${m}m ${s}s` : `${left}s`;
    }
  };
  tick();
  setInterval(tick, 1000);
  const source = new EventSource(feedUrl());
  // The queue may have changed between this page's render and the stream's start.
  source.addEventListener("ready", (event) => {
    const now = JSON.parse(event.data).approvals;
    if (Array.isArray(now) && now.join(" ") !== (list.dataset.ids || "")) changed();
  });
  source.addEventListener("approvals", () => changed());
  const changed = () => {
    // Reload to show the queue as it is, unless the operator is typing a reason.
    const busy = [...list.querySelectorAll("input[name=reason]")].some((i) => i.value !== "") ||
      list.contains(document.activeElement);
    if (!busy) {
      location.replace("/ui/approvals");
      return;
    }
    let notice = document.getElementById("queue-changed");
    if (!notice) {
      notice = document.createElement("p");
      notice.id = "queue-changed";
      notice.className = "notice";
      notice.setAttribute("role", "status");
      const link = document.createElement("a");
      link.href = "/ui/approvals";
      link.textContent = "The queue changed: reload";
      notice.append(link);
      list.before(notice);
    }
  };
}

document.addEventListener("DOMContentLoaded", () => {
  onSignin();
  const table = document.getElementById("feed");
  if (table) onFeed(table);
  const list = document.getElementById("approvals");
  if (list) onApprovals(list);
});
