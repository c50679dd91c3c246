#!/bin/sh
# clawpatrol launcher: runs one clawpatrol command under exactly the Deno permissions it needs.
#
# Two steps. First the app works out the grant for this command and its config
# (`clawpatrol permissions -- COMMAND ...`) in a process that may only read the app, the working
# directory, the config's directory and the CA bundles: no network, no writes. Then the command
# runs under that grant and nothing else (`--no-prompt`: anything outside it fails).
#
# install.sh copies this file as PREFIX/bin/clawpatrol with `lib` and `deno` filled in; in a
# checkout, `deno task start` runs it as it is (the app is the checkout).
set -eu

lib=${CLAWPATROL_LIB:-$(cd "$(dirname "$0")" && pwd -P)}
deno=${CLAWPATROL_DENO:-deno}
# An installed app never fetches at run time; a checkout fetches its npm packages on first use.
cache=--cached-only
if [ "${CLAWPATROL_FETCH:-0}" = 1 ]; then cache=""; fi

# What the grant step reads: the same variables as the app (gateway/grant.ts APP_ENV), and where
# the user's state lives (quickstart's directory) and the temporary directory (its PostgreSQL).
PLAN_ENV=HOME,XDG_STATE_HOME,TMPDIR
# What `quickstart` looks for before granting: PostgreSQL's server binaries and runuser; what
# `run --isolate`, `tunnel` and `agent` look for: sudo.
PLAN_READ=/usr/lib/postgresql,/usr/sbin/runuser,/sbin/runuser,/usr/bin/runuser,/usr/bin/sudo,/bin/sudo
APP_ENV=CLAWPATROL_CONFIG,CLAWPATROL_MASTER_KEY,CLAWPATROL_DEBUG,CLAWPATROL_AGENT_TOKEN,CLAWPATROL_ADMIN_TOKEN,CLAWPATROL_STORE_PASSWORD,PGAPPNAME,CLAWPATROL_COMMAND,USER,LOGNAME,GRACEFUL_FS_PLATFORM,TEST_GRACEFUL_FS_GLOBAL_PATCH,UNDICI_NO_WASM_SIMD,UNDICI_USE_MILO,JEST_WORKER_ID,NODE_ENV,LOG_TOKENS,LOG_STREAM

if ! command -v "$deno" >/dev/null 2>&1; then
  deno=$(command -v deno) || {
    echo "clawpatrol: deno not found; re-run install.sh" >&2
    exit 127
  }
fi
# Deno's own update check would go out through an agent's HTTPS_PROXY when the shell is one.
DENO_NO_UPDATE_CHECK=1
export DENO_NO_UPDATE_CHECK
cwd=$(pwd -P)
# What the app suggests when it prints a command: this launcher's name for itself.
CLAWPATROL_COMMAND=${CLAWPATROL_COMMAND:-clawpatrol}
export CLAWPATROL_COMMAND

# The config's directory: the grant step reads the config (and what it includes) from there.
config=${CLAWPATROL_CONFIG:-}
take_next=0
for arg in "$@"; do
  if [ "$take_next" = 1 ]; then
    config=$arg
    take_next=0
    continue
  fi
  case $arg in
    # Everything after `--` belongs to the command `clawpatrol run` starts, not to us.
    --) break ;;
    --config | -c) take_next=1 ;;
    --config=*) config=${arg#--config=} ;;
  esac
done
# `start` with no config anywhere makes one where the user's state lives, not in the working
# directory (a checkout, often): $XDG_STATE_HOME/clawpatrol, else ~/.local/state/clawpatrol.
if [ -z "$config" ] && [ "${1:-}" = start ] && [ ! -e "$cwd/gateway.hcl" ]; then
  case ${XDG_STATE_HOME:-} in
    /*) state_home=$XDG_STATE_HOME ;;
    *) state_home=${HOME:?HOME is not set: pass -c CONFIG}/.local/state ;;
  esac
  config=$state_home/clawpatrol/gateway.hcl
  mkdir -p "$state_home/clawpatrol"
  chmod 0700 "$state_home/clawpatrol"
  shift
  set -- start -c "$config" "$@"
fi
config_dir=$cwd
if [ -n "$config" ]; then
  case $config in /*) ;; *) config=$cwd/$config ;; esac
  if [ -d "$config" ]; then config_dir=$config; else config_dir=$(dirname "$config"); fi
fi
case "$lib$cwd$config_dir" in
  *,*)
    echo "clawpatrol: cannot run in or with a config in a path containing ',' (Deno permission lists are comma-separated)" >&2
    exit 2
    ;;
esac

# shellcheck disable=SC2086 # $cache is one flag or none
flags=$("$deno" run --config "$lib/deno.json" $cache --quiet --no-prompt \
  --allow-read="$lib,$cwd,$config_dir,/etc/ssl,/etc/pki,$PLAN_READ" \
  --allow-env="$APP_ENV,$PLAN_ENV" \
  --allow-sys=osRelease \
  "$lib/main.ts" permissions -- "$@") || exit $?

# One flag per line: split on newlines only, and never glob.
IFS='
'
set -f
# shellcheck disable=SC2086 # the split is the point
set -- $cache $flags "$lib/main.ts" "$@"
exec "$deno" run --config "$lib/deno.json" "$@"
