#!/bin/sh
# `deno task compile`: a clawpatrol binary whose `serve` runs under the grant its config needs,
# computed by the same step the launcher runs (`clawpatrol permissions -- serve`), so the two
# cannot drift apart. A compiled binary cannot change its permissions at run time: it is built
# for one config, CLAWPATROL_CONFIG (default ./gateway.hcl). Rebuild it after a config change
# that adds a host, a listen address or a path. CLAWPATROL_COMPILE_PRINT=1 prints the
# `deno compile` command instead of running it.
set -eu
lib=$(cd "$(dirname "$0")/.." && pwd -P)
config=${CLAWPATROL_CONFIG:-./gateway.hcl}
if [ ! -e "$config" ]; then
  echo "compile: no config at '$config': the binary bakes in one config's grant; set CLAWPATROL_CONFIG" >&2
  exit 2
fi
flags=$(CLAWPATROL_LIB=$lib CLAWPATROL_FETCH=${CLAWPATROL_FETCH:-0} sh "$lib/launcher.sh" permissions -- serve -c "$config")
IFS='
'
set -f
# shellcheck disable=SC2086 # one flag per line
# The dashboard's script and stylesheet are read from src/dashboard/static at run time, not
# imported, so compile would leave them out.
set -- compile $flags --include "$lib/rules" --include "$lib/src/dashboard/static" \
  --output "$lib/clawpatrol" "$lib/main.ts"
if [ "${CLAWPATROL_COMPILE_PRINT:-0}" = 1 ]; then
  printf '%s\n' "$@"
  exit 0
fi
exec "${CLAWPATROL_DENO:-deno}" "$@"
