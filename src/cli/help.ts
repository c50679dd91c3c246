/**
 * `clawpatrol help`.
 *
 * @module
 */

import { out } from "./_io.ts";

/** The usage text. */
export const USAGE = `clawpatrol: a security firewall for AI agents

Usage: clawpatrol COMMAND [options]

Commands:
  init [DIR] [--force] [--passphrase | --passphrase-stdin] [--state-dir PATH]
       [--proxy-listen HOST:PORT] [--admin-listen HOST:PORT]
                         write a starter gateway.hcl, rule packs and state/ (CA, vault with
                         its master.key, or protected by a passphrase instead); the proxy
                         listens on 127.0.0.1:13128 and the admin API on 127.0.0.1:13129
                         unless the flags say otherwise; the state goes beside the config,
                         or in /var/lib/clawpatrol for a DIR under /etc/, or --state-dir
  serve [--passphrase-stdin]
                         run the gateway; reloads the config when it changes
  start [--passphrase-stdin] [--proxy-listen HOST:PORT] [--admin-listen HOST:PORT]
                         init when no config exists (the flags go into the config it
                         writes), then serve
  quickstart [--dir DIR] [--postgres postgres://USER@HOST:PORT/DB]
                         an offline demo until Ctrl-C: a throwaway PostgreSQL with a users
                         table (or the database named; its password from PGPASSWORD or a
                         prompt), a local HTTPS demo API, a gateway with agent 'demo', in
                         DIR (default $XDG_STATE_HOME/clawpatrol/quickstart, else
                         ~/.local/state/clawpatrol/quickstart); prints what to try next
  quickstart env [--dir DIR]
                         once it is ready, the demo agent's exports: eval "$(clawpatrol
                         quickstart env)"
  check                  validate the config: a summary with its policy digest (on every
                         receipt it decides), or every problem with file:line
  test FIXTURE...        replay rule fixtures; [--require-coverage] fails on unexercised rules
  log                    recent receipts: [--follow] [--json] [--verdict allow|deny]
                         [--agent NAME] [--since 10m|ISO-TIME] [--limit N]; with gateway.store
                         every gateway's, each line naming it ([--gateway ID]; --local: this host's)
  log verify             check the receipts' hash chain; reports the first broken row (with
                         gateway.store also every gateway's chain there; --local: this host's only)
                         (--checkpoint FILE: also the signed anchors there, which catch a
                         rewritten chain or a cut tail; --pubkey KEY: trust only that key)
  log pubkey             the key anchors are signed with (--rotate: a new one; old stays trusted)
  log fixture RCPT_ID... the receipts as rule fixtures (YAML) clawpatrol test replays as they are
  replay -c CANDIDATE [--since 7d] [--agent A] [--endpoint E] [--receipts PATH] [--json]
                         re-decide recorded actions with a candidate config: what would change,
                         by rule; exit 1 when something denied or held would now be allowed
  report [--since 7d] [--receipts PATH | --local] [--json]
                         rule hits by verdict and mode, observe-mode rules ready to enforce,
                         approvals, denies per agent and endpoint, unknown hosts (with
                         gateway.store: across every gateway, and receipts by gateway)
  agent add NAME --profile PROFILE
                         enrol an agent; prints its token once, as the last line of stdout
  agent add NAME --profile PROFILE --wireguard [--tunnel T] [--endpoint HOST:PORT]
            [--public-key KEY] [--full-tunnel] [--output FILE]
                         also a tunnel address for its host, on the running interface, and
                         the wg-quick file for it (its private key shown once, unless KEY)
  agent list [--json]    enrolled agents: name, profile, created, rotated, status (never
                         tokens); tunnel peers also their address, last handshake and bytes
  agent revoke NAME      the agent's token stops working, its tunnel peer is removed; the
                         name is never reused
  agent rotate NAME      a new token, printed once as the last line; the old one stops working
  approvals list [--json]
                         requests held for a human (rule approve = [human_approver.X]): id,
                         age, agent, endpoint, rule, summary
  approvals approve ID [--reason TEXT]
  approvals deny ID [--reason TEXT]
                         decide a held request as cli:$USER through the admin API
                         (gateway.admin_listen, or --admin-url URL); admin token from
                         $CLAWPATROL_ADMIN_TOKEN, else state/admin.token (mode 0600)
  dashboard [--admin-url URL]
                         the web dashboard's address (admin_listen) and a one-time sign-in
                         code (works once, for 5 minutes); admin token as for approvals
  vault set NAME [--slot S]
                         store a credential's value, read from stdin (one trailing newline
                         dropped) or typed at a prompt that does not echo; never from arguments
  vault list [--json]    stored values: name, slot, updated, fingerprint (never the values)
  vault rm NAME [--slot S]
                         remove a credential's value (every slot unless --slot)
  vault rotate-key [--to-passphrase | --to-key] [--new-key-stdin]
                         re-encrypt the vault's root key under a new random master.key or a
                         new passphrase (asked twice); stored values are unchanged. With
                         CLAWPATROL_MASTER_KEY set, pass the new base64 key with
                         --new-key-stdin, then update the variable
                         vault unlock: CLAWPATROL_MASTER_KEY (base64 of 32 bytes), else
                         state/master.key, or a passphrase asked on the terminal; with
                         --passphrase-stdin the first line of stdin is the passphrase (then,
                         for set, the rest is the value; for rotate-key, the next line is the
                         new passphrase, then the new key for --new-key-stdin)
  env --agent NAME [--token T]
                         shell exports for the agent (proxy with its credentials, CA bundle,
                         credential placeholders): eval "$(clawpatrol env --agent NAME)"
  run --agent NAME [--token T] -- COMMAND [ARGS...]
                         run COMMAND with that environment; exits with its exit code
  run --isolate --agent NAME [--token T] [--as USER] -- COMMAND [ARGS...]
                         run COMMAND in a network namespace whose only link is the gateway
                         (gateway.transparent): endpoints by their own names, no proxy
                         settings, no other way out; root or sudo for isolate.sh
                         token: --token, else $CLAWPATROL_AGENT_TOKEN, else a prompt (env also
                         reads one line of stdin when it is not a terminal); when the agent's
                         profile reaches a kubernetes endpoint, both set KUBECONFIG to
                         state/kubeconfig-NAME.yaml; when it holds a PostgreSQL credential,
                         PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD (the token) and
                         PGSSLMODE for the first, so psql needs no flags
  kubeconfig --agent NAME [--endpoint E] [--output PATH] [--token-stdin]
                         write a kubeconfig (0600) for kubectl through the gateway as the
                         agent: a context clawpatrol-ENDPOINT per kubernetes endpoint its
                         profile reaches (or just E); default state/kubeconfig-NAME.yaml, its
                         path the last line of stdout. Token: one line of stdin with
                         --token-stdin, else $CLAWPATROL_AGENT_TOKEN, else a prompt; never
                         an argument
  status [--json] [--admin-url URL]
                         the running gateway's mode, endpoints, rules and the Deno
                         permissions it runs under (its /status)
  store init | status [--json]
                         the PostgreSQL of gateway.store, shared by several gateways: init
                         creates or upgrades its schema (serve does at start too); status
                         shows its schema version and agents, exit 1 unless current
  store log [--json] [--limit N] [--gateway ID] [--agent A] [--verdict allow|deny]
                         every gateway's receipts as copied into the store, oldest first
  store verify           recomputes each gateway's hash chain in the store (exit 1: broken)
  permissions [--json] [--] COMMAND [ARGS...]
                         the Deno permissions COMMAND runs with under the launcher: for
                         serve, exactly what its config needs (listen addresses, upstreams,
                         approver URLs; the config, state and CA bundles)
  systemd-unit [--user NAME] [--bin PATH] [--output PATH]
                         a systemd unit running serve as NAME (default clawpatrol) under
                         the launcher, sandboxed: read-only system, writable state directory
                         only, no home directories, no privileges or capabilities
  tunnel up|down|show [NAME]
                         the WireGuard interface of tunnel NAME (its key sealed in the vault,
                         its enrolled peers), through the root step tunnel.sh; show: each
                         peer's last handshake and bytes
  version                print the version

Global options:
  -c, --config PATH      config file or directory (default ./gateway.hcl, env CLAWPATROL_CONFIG)
  --debug                show stack traces and debug logs
  -h, --help             this help

Exit codes: 0 ok, 1 failure, 2 usage or config error.`;

/** Prints usage. */
export function helpCommand(): number {
  out(USAGE);
  return 0;
}
