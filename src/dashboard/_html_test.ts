import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { escapeHtml, html } from "./_html.ts";

Deno.test("html`` escapes interpolated text, keeps nested fragments, drops null and false", () => {
  const evil = `<script>alert("x")</script>&'`;
  assertEquals(
    html`<td title="${evil}">${evil}</td>`.toString(),
    `<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">` +
      `&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>`,
  );
  const inner = html`<b>${"<i>"}</b>`;
  assertEquals(
    html`<p>${inner}${[1, "<", inner]}${null}${false}${undefined}</p>`.toString(),
    "<p><b>&lt;i&gt;</b>1&lt;<b>&lt;i&gt;</b></p>",
  );
  assertEquals(escapeHtml("a&b"), "a&amp;b");
});
