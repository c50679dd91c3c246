#!/bin/sh
# The README's two top commands, on a fresh Debian/Ubuntu machine with or without Deno:
#
#   sh bootstrap.sh start [ARGS...]   Deno from npm when missing, then `deno task start`: a gateway
#                                     in $XDG_STATE_HOME/clawpatrol (~/.local/state/clawpatrol)
#   sh bootstrap.sh test [ARGS...]    Deno and the Debian packages the tests need when missing,
#                                     then `deno task test` (ARGS: test files, deno test flags)
#
# What is missing and how to get it is .ci/run's business (`--ensure`), so CI and this script
# can never disagree about it.
set -eu

root=$(cd "$(dirname "$0")" && pwd -P)
usage() {
  echo "Usage: sh bootstrap.sh start|test [ARGS...]" >&2
  exit 2
}
case ${1:-} in
  start) need=deno ;;
  test) need=tests ;;
  *) usage ;;
esac
what=$1
shift

deno=$(bash "$root/.ci/run" --ensure "$need") || exit $?
# `deno task` runs `deno …` from PATH: make it the one .ci/run found or installed.
PATH=$(dirname "$deno"):$PATH
DENO_NO_UPDATE_CHECK=1
export PATH DENO_NO_UPDATE_CHECK
cd "$root"
# Fetch the npm packages now, quietly, rather than as 100 lines of noise on the first start.
deno install --quiet </dev/null >&2 || {
  echo "bootstrap.sh: 'deno install' failed (npm dependencies)" >&2
  exit 1
}
exec deno task "$what" "$@"
