"""mitmproxy addon for bench/http_proxy.ts: the cheapest per-request policy, so mitmproxy does a
little work per request the way the gateway's rule evaluation does (a method check and a header)."""

from mitmproxy import http

ALLOWED = {"GET", "POST"}


class Check:
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.method not in ALLOWED:
            flow.response = http.Response.make(403, b"denied\n")
            return
        flow.request.headers["x-bench"] = "mitmproxy"


addons = [Check()]
