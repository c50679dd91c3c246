/**
 * Slack's SDKs, imported on first use: they cost ~30 MB of memory, and most gateways have no
 * Slack approver.
 *
 * @module
 */

/** The SDK classes the approvals use. */
export interface SlackSdk {
  WebClient: typeof import("@slack/web-api").WebClient;
  SocketModeClient: typeof import("@slack/socket-mode").SocketModeClient;
}

let loading: Promise<SlackSdk> | null = null;

/** The SDKs, imported once (a failed import is retried by the next call). */
export function slackSdk(): Promise<SlackSdk> {
  loading ??= Promise.all([import("@slack/web-api"), import("@slack/socket-mode")]).then(
    ([web, socket]) => ({ WebClient: web.WebClient, SocketModeClient: socket.SocketModeClient }),
    (err) => {
      loading = null;
      throw err;
    },
  );
  return loading;
}
