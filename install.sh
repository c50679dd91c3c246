#!/bin/sh
# Installs clawpatrol from this checkout: the app and its npm dependencies into
# PREFIX/lib/clawpatrol, the `clawpatrol` command into PREFIX/bin. Run `sh install.sh --help`.
# Re-running upgrades in place. Writes nothing outside PREFIX (apart from Deno's module cache).
set -eu

# The launcher (launcher.sh) works out each command's Deno permissions from its config through
# the app itself (`clawpatrol permissions`), and runs the command under exactly those.
DENO_NPM_SPEC="deno@2"
DENO_INSTALLER_URL="https://deno.land/install.sh"

usage() {
  cat <<'EOF'
Usage: sh install.sh [--prefix DIR] [--launcher]

Installs clawpatrol from this checkout:
  DIR/bin/clawpatrol      the command (a compiled binary, or a launcher script)
  DIR/lib/clawpatrol/     the application and its npm dependencies

Options:
  --prefix DIR   install under DIR (default: $HOME/.local)
  --launcher     skip 'deno compile'; install the launcher script that runs
                 each command under the permissions its config needs (the
                 default unless CLAWPATROL_CONFIG names a config to compile for)
  -h, --help     show this help

Deno is installed into DIR when missing (npm install -g --prefix DIR deno@2).
Re-running upgrades an existing install in place.
EOF
}

say() { printf 'clawpatrol: %s\n' "$*"; }
die() {
  printf 'install.sh: %s\n' "$*" >&2
  exit 1
}
usage_error() {
  printf 'install.sh: %s\n\n' "$*" >&2
  usage >&2
  exit 2
}

# Quotes a string for sh: 'it'\''s'.
shell_quote() {
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

prefix=""
force_launcher=0
while [ $# -gt 0 ]; do
  case $1 in
    --prefix)
      [ $# -ge 2 ] || usage_error "--prefix needs a directory"
      prefix=$2
      shift 2
      ;;
    --prefix=*)
      prefix=${1#--prefix=}
      shift
      ;;
    --launcher)
      force_launcher=1
      shift
      ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) usage_error "unknown option '$1'" ;;
  esac
done

if [ -z "$prefix" ]; then
  [ -n "${HOME:-}" ] || die "HOME is not set: pass --prefix DIR"
  prefix=$HOME/.local
fi

src_dir=$(cd "$(dirname "$0")" && pwd -P)
if [ ! -f "$src_dir/main.ts" ] || [ ! -f "$src_dir/deno.json" ]; then
  die "run install.sh from a clawpatrol checkout ('$src_dir' has no main.ts/deno.json)"
fi

mkdir -p "$prefix/bin" "$prefix/lib"
prefix=$(cd "$prefix" && pwd -P)
lib_dir=$prefix/lib/clawpatrol
bin_path=$prefix/bin/clawpatrol
case $lib_dir in
  # Deno permission lists are comma-separated with no escape, so such a path cannot be granted.
  *,*) die "the prefix must not contain ',': '$prefix'" ;;
esac

# --- Deno -------------------------------------------------------------------------------------

deno_bin=""
find_deno() {
  for candidate in "$(command -v deno 2>/dev/null || true)" "$prefix/bin/deno"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && "$candidate" --version >/dev/null 2>&1; then
      deno_bin=$candidate
      return 0
    fi
  done
  return 1
}

install_deno() {
  if command -v npm >/dev/null 2>&1; then
    # --prefix keeps Deno inside the install prefix and needs no root.
    say "installing Deno: npm install -g --prefix $prefix $DENO_NPM_SPEC"
    npm install -g --prefix "$prefix" "$DENO_NPM_SPEC" || true
    # Newer npm may skip deno's postinstall (which links the binary) unless scripts are allowed.
    find_deno || npm install -g --prefix "$prefix" --allow-scripts=deno "$DENO_NPM_SPEC" || true
  elif command -v curl >/dev/null 2>&1 && curl -fsSI --max-time 10 "$DENO_INSTALLER_URL" >/dev/null 2>&1; then
    say "installing Deno with the official installer into $prefix"
    curl -fsSL "$DENO_INSTALLER_URL" | DENO_INSTALL=$prefix sh -s -- -y --no-modify-path
  else
    die "Deno is missing: install npm (then re-run), or Deno itself (https://deno.com)"
  fi
  find_deno || die "Deno did not install: '$prefix/bin/deno --version' fails"
}

find_deno || install_deno
say "using $("$deno_bin" --version | head -n 1) at $deno_bin"
# `deno task` runs `deno ...` from PATH: make it this one.
user_path=$PATH
PATH=$(dirname "$deno_bin"):$PATH
export PATH DENO_NO_UPDATE_CHECK=1

# --- the app ----------------------------------------------------------------------------------

# Build the new copy beside the old one and swap it in, so a running clawpatrol never sees a
# half-copied tree and a failed install leaves the previous version working.
stage_dir=$prefix/lib/.clawpatrol.new.$$
old_dir=$prefix/lib/.clawpatrol.old.$$
compile_log=$prefix/lib/.clawpatrol-compile.$$.log
trap 'rm -rf "$stage_dir" "$old_dir" "$compile_log"' EXIT
trap 'exit 130' INT TERM
rm -rf "$stage_dir"
mkdir -p "$stage_dir"
for f in main.ts deno.json deno.lock launcher.sh isolate.sh tunnel.sh; do
  if [ -f "$src_dir/$f" ]; then cp "$src_dir/$f" "$stage_dir/$f"; fi
done
# `deno task compile` computes the binary's grant with the launcher's own step.
mkdir -p "$stage_dir/tools"
cp "$src_dir/tools/compile.sh" "$stage_dir/tools/compile.sh"
for d in src rules; do
  if [ -d "$src_dir/$d" ]; then cp -R "$src_dir/$d" "$stage_dir/$d"; fi
done
# Tests and benches are not part of the app (and import npm packages the app does not need).
if [ -d "$stage_dir/src" ]; then
  find "$stage_dir/src" \( -name '*_test.ts' -o -name '*_bench.ts' \) -type f -exec rm -f {} +
fi

# Deno installs every package the lock pins, not only those main.ts reaches (denoland/deno#27627),
# and the checkout's lock also pins what tests and benches import (npm:pg, npm:pg-protocol).
# Listed as workspace dependencies that deno.json does not declare, those
# specifiers are pruned by `deno install` below, with every package only they need; the versions
# of everything else stay as tested.
# shellcheck disable=SC2016 # JavaScript, not shell
PRUNE_LOCK='const lock = JSON.parse(Deno.readTextFileSync("deno.lock"));
const declared = lock.workspace?.dependencies ?? [];
const extra = Object.keys(lock.specifiers ?? {}).filter((s) => !declared.includes(s));
lock.workspace = { ...lock.workspace, dependencies: [...declared, ...extra].sort() };
Deno.writeTextFileSync("deno.lock", JSON.stringify(lock, null, 2) + "\n");'
if [ -f "$stage_dir/deno.lock" ]; then
  (cd "$stage_dir" && "$deno_bin" eval --no-config --no-lock "$PRUNE_LOCK") ||
    die "cannot drop test-only packages from $stage_dir/deno.lock"
fi

say "fetching npm dependencies (deno install)"
(cd "$stage_dir" && "$deno_bin" install --quiet) || die "deno install failed in $stage_dir"
(cd "$stage_dir" && "$deno_bin" cache --quiet main.ts) || die "deno cache main.ts failed"

if [ -d "$lib_dir" ]; then mv "$lib_dir" "$old_dir"; fi
mv "$stage_dir" "$lib_dir"
rm -rf "$old_dir"
say "installed the app in $lib_dir"

# --- the command ------------------------------------------------------------------------------

write_launcher() {
  tmp=$bin_path.tmp.$$
  {
    printf '#!/bin/sh\n'
    printf '# clawpatrol launcher, written by install.sh from launcher.sh; re-run install.sh to upgrade.\n'
    printf 'CLAWPATROL_LIB=%s\n' "$(shell_quote "$lib_dir")"
    printf 'CLAWPATROL_DENO=%s\n' "$(shell_quote "$deno_bin")"
    # Never fetch at run time, whatever the environment says.
    printf 'CLAWPATROL_FETCH=0\n'
    tail -n +2 "$src_dir/launcher.sh"
  } >"$tmp"
  chmod 0755 "$tmp"
  mv -f "$tmp" "$bin_path"
}

installed_kind=""
# A compiled binary bakes in one config's grant (tools/compile.sh): only with a config to build for.
if [ "$force_launcher" = 0 ] && [ -z "${CLAWPATROL_CONFIG:-}" ]; then
  say "no CLAWPATROL_CONFIG to compile a binary for: installing the launcher"
  force_launcher=1
fi
if [ "$force_launcher" = 0 ]; then
  # compile runs in the app's directory: the config's path must not depend on where we are.
  case $CLAWPATROL_CONFIG in /*) ;; *) CLAWPATROL_CONFIG=$(pwd -P)/$CLAWPATROL_CONFIG ;; esac
  export CLAWPATROL_CONFIG
  say "compiling a binary for $CLAWPATROL_CONFIG (deno task compile)"
  if (cd "$lib_dir" && NO_COLOR=1 "$deno_bin" task compile) >"$compile_log" 2>&1 && [ -f "$lib_dir/clawpatrol" ]; then
    chmod 0755 "$lib_dir/clawpatrol"
    mv -f "$lib_dir/clawpatrol" "$bin_path"
    installed_kind="compiled binary"
  else
    rm -f "$lib_dir/clawpatrol"
    say "deno compile failed (it downloads a Deno runtime, which may be unreachable); its last words:"
    { grep -m 1 '^error' "$compile_log" || true; grep -v -e '^Stack backtrace:$' -e '^ *[0-9]*: <unknown>$' -e '^$' "$compile_log" | tail -n 1; } | sed 's/^/    /'
    say "installing the launcher instead"
  fi
  rm -f "$compile_log"
fi
if [ -z "$installed_kind" ]; then
  write_launcher
  installed_kind="launcher (deno run with narrow permissions)"
fi
say "installed $bin_path: $installed_kind"

"$bin_path" version >/dev/null 2>&1 || die "'$bin_path version' fails after install"

case ":$user_path:" in
  *":$prefix/bin:"*) path_hint="" ;;
  *) path_hint="  export PATH=\"$prefix/bin:\$PATH\"    # $prefix/bin is not on your PATH yet
" ;;
esac
cat <<EOF

Next steps:
${path_hint}  clawpatrol quickstart &   # an offline demo: a throwaway database, a gateway, agent 'demo'
  clawpatrol start          # your gateway, in \$XDG_STATE_HOME/clawpatrol (~/.local/state/clawpatrol)
  # or in a directory of your choice (outside any git checkout: it holds the vault key):
  clawpatrol init ~/clawpatrol-gw && clawpatrol serve -c ~/clawpatrol-gw/gateway.hcl
EOF
