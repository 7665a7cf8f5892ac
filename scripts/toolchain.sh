#!/usr/bin/env bash
# Provides this project's Pulumi engine without Pulumi's download sites (unreachable here): the
# `pulumi` CLI at the version package.json pins for @pulumi/pulumi, a Node.js language host
# `pulumi-language-nodejs`, and a resource provider for the `command` package at the version
# package.json pins for @pulumi/command.
#
#  1. A matching `pulumi` on PATH with its own pulumi-language-nodejs beside it (an upstream install)
#     is used as it is. A real pulumi-resource-command of the pinned version in the user's plugin
#     cache (${PULUMI_HOME:-~/.pulumi}/plugins) is always preferred: then the project's provider is
#     neither built nor registered.
#  2. Otherwise, built once from Go modules into .toolchain/ and reused:
#     - .toolchain/bin/pulumi from github.com/pulumi/pulumi/pkg/v3 at the pinned version;
#     - .toolchain/bin/pulumi-language-nodejs from github.com/pulumi/pulumi/sdk/v3 at
#       LANGUAGE_HOST_SDK_VERSION (older: see there);
#     - .toolchain/plugins/pulumi-resource-command from toolchain/command-provider, the project's own
#       implementation of the part of pulumi-command it uses (the real provider's Go modules are not
#       served by the module proxy), registered as `command` in the PROJECT's Pulumi home
#       (.toolchain/home, ST2_PROJECT_PULUMI_HOME), never in the user's: scripts/pulumi-env.sh runs
#       the engine with that home only when the user has no real provider. Kept off PATH: the engine
#       prefers a provider found on PATH over the plugin cache.
#
# Usage: scripts/toolchain.sh [--quiet]      (npm run toolchain)
# Prints the absolute folder holding `pulumi` and the language host on its LAST line of stdout;
# progress goes to stderr (--quiet: only build steps and errors). Exits non-zero, saying what is
# missing and why, when something cannot be provided (binaries that were built are kept).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/pulumi-env.sh"

QUIET=0
case "${1:-}" in
  --quiet) QUIET=1 ;;
  "") ;;
  *) printf 'usage: %s [--quiet]\n' "$0" >&2; exit 2 ;;
esac

say() { if ((QUIET == 0)); then printf 'toolchain: %s\n' "$*" >&2; fi; }
note() { printf 'toolchain: %s\n' "$*" >&2; }
die() { printf 'toolchain: ERROR: %s\n' "$*" >&2; exit 1; }

PULUMI_VERSION="$(st2_pinned_version @pulumi/pulumi)"
COMMAND_VERSION="$(st2_pinned_version @pulumi/command)"

# The Node.js language host is built from an OLDER Pulumi release than the CLI, on purpose: since
# v3.69.0 it is its own Go module (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3),
# which the module proxy here refuses at every version; up to v3.68.0 it was a folder of the module
# github.com/pulumi/pulumi/sdk/v3, which the proxy serves. v3.68.0 is the newest release that still
# contains it (v3.68.1+ are not served; v3.69.0 and v3.70.0 no longer contain it). It speaks the
# language-host protocol the v3 CLI still uses and runs @pulumi/pulumi's own program runner (ts-node
# included), so it serves @pulumi/pulumi 3.248 programs. Raise it only to a release that has it.
LANGUAGE_HOST_SDK_VERSION=3.68.0

# The variable upstream stamps with -ldflags -X (CLI and language host), and the command provider's.
PULUMI_VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
COMMAND_VERSION_VAR=st2-upgrade/toolchain/command-provider/provider.Version

PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
COMMAND_SRC="$ST2_ROOT/toolchain/command-provider"

GO="$(command -v go || true)"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi

# ---------------------------------------------------------------------------------------------
# Checks of existing binaries.
#
# `pulumi version` says what the CLI is. The plugins have no version flag worth trusting, and with
# -trimpath Go leaves -ldflags (the version stamp) out of the build info, so what this script builds
# is recorded in .toolchain/bin/VERSIONS ("NAME VERSION SHA256") and a binary is reused only while
# its line matches. The project's provider's VERSION also carries a hash of its sources, so editing
# them rebuilds it.

MANIFEST="$ST2_TOOLCHAIN_BIN/VERSIONS"
PLUGINS_DIR="$ST2_TOOLCHAIN_DIR/plugins"
OWN_PROVIDER="$PLUGINS_DIR/pulumi-resource-command"
PLUGIN_CACHE_BINARY="$ST2_PROJECT_PULUMI_HOME/plugins/resource-command-v$COMMAND_VERSION/pulumi-resource-command"

pulumi_ok() { # PATH: a pulumi CLI that says it is v$PULUMI_VERSION
  # With the project's Pulumi home: the CLI may create files in its home, never in the user's.
  [[ -x "$1" ]] && [[ "$(PULUMI_HOME="$ST2_PROJECT_PULUMI_HOME" PULUMI_SKIP_UPDATE_CHECK=true "$1" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

built_ok() { # FILE VERSION: FILE is the binary this script built at VERSION
  [[ -x "$1" && -f "$MANIFEST" ]] || return 1
  grep -Fxq -- "$(basename "$1") $2 $(sha256 "$1")" "$MANIFEST"
}

record_built() { # FILE VERSION
  local name line
  name="$(basename "$1")"
  line="$name $2 $(sha256 "$1")"
  mkdir -p "$ST2_TOOLCHAIN_BIN"
  { grep -v -- "^$name " "$MANIFEST" 2>/dev/null || true; printf '%s\n' "$line"; } >"$MANIFEST.tmp"
  mv -f "$MANIFEST.tmp" "$MANIFEST"
}

# own_provider_version: the pinned version plus a hash of the provider's sources (tests excluded).
own_provider_version() {
  local sum
  sum="$(cd "$COMMAND_SRC" && find . -type f \( -name '*.go' ! -name '*_test.go' -o -name go.mod -o -name go.sum \) \
    -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
  printf '%s+src.%s\n' "$COMMAND_VERSION" "$sum"
}

# register_own_provider PULUMI: put the project's provider in the project's plugin cache under the
# pinned version, so the engine finds it and never tries to download it. Idempotent.
register_own_provider() {
  if [[ -x "$PLUGIN_CACHE_BINARY" ]] && cmp -s "$OWN_PROVIDER" "$PLUGIN_CACHE_BINARY"; then
    return 0
  fi
  say "registering $OWN_PROVIDER as resource plugin command $COMMAND_VERSION in $ST2_PROJECT_PULUMI_HOME/plugins (the project's Pulumi home)"
  PULUMI_HOME="$ST2_PROJECT_PULUMI_HOME" PULUMI_SKIP_UPDATE_CHECK=true "$1" plugin install resource command "$COMMAND_VERSION" \
    --file "$OWN_PROVIDER" --reinstall >&2 ||
    die "pulumi plugin install resource command $COMMAND_VERSION --file $OWN_PROVIDER failed"
}

# ---------------------------------------------------------------------------------------------
# Building.

BUILD_DIR="$ST2_TOOLCHAIN_DIR/build"
SRC="$BUILD_DIR/src"
FAILURES=()

fail() { FAILURES+=("$1: $2"); } # WHAT WHY

# mod_download MODULE@VERSION: download with the Go client and set MOD_DIR; on failure set MOD_ERROR.
mod_download() {
  local out
  MOD_DIR="" MOD_ERROR=""
  out="$(cd "$BUILD_DIR" && GOWORK=off GO111MODULE=on "$GO" mod download -json "$1" 2>&1)" || true
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  out="$(printf '%s' "$out" | node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      let m = {};
      try { m = JSON.parse(text); } catch { m = { Error: text.trim() || "no answer" }; }
      if (m.Error || !m.Dir) { console.log(`ERR ${(m.Error || text).replace(/\s+/g, " ")}`); return; }
      console.log(`OK ${m.Dir}`);
    });
  ')"
  if [[ "$out" == OK\ * ]]; then
    MOD_DIR="${out#OK }"
    return 0
  fi
  MOD_ERROR="${out#ERR }"
  MOD_ERROR="${MOD_ERROR#"$1: "}"
  if [[ "$MOD_ERROR" == *"403 Forbidden"* ]]; then
    MOD_ERROR+=" [the Go module proxy refuses this module version: retrying will not help]"
  fi
  return 1
}

# check_local_replaces DIR: every `replace ... => ./relative/path` of DIR/go.mod must point at a
# module laid out in the build tree (so the shipped go.sum stays valid and nothing is fetched twice).
check_local_replaces() {
  local rel missing=""
  while IFS= read -r rel; do
    [[ -n "$rel" ]] || continue
    [[ -f "$1/$rel/go.mod" ]] || missing+=" $rel"
  done < <("$GO" mod edit -json "$1/go.mod" | node -e '
    let t = ""; process.stdin.on("data", (d) => (t += d)).on("end", () => {
      for (const r of JSON.parse(t).Replace || []) if (!r.New.Version) console.log(r.New.Path);
    });')
  if [[ -n "$missing" ]]; then
    MOD_ERROR="go.mod of ${1#"$SRC"/} replaces modules with folders not laid out:$missing"
    return 1
  fi
}

# place MODULE_DIR DEST: copy a module out of the (read-only) module cache into the build tree.
place() {
  rm -rf "$2"
  mkdir -p "$2"
  cp -R "$1/." "$2/"
  chmod -R u+w "$2"
}

# go_build DIR MAIN OUTPUT LDFLAGS: build the way upstream's release does (static, trimmed paths,
# pure-Go os/user, gRPC without x/net/trace), atomically replacing OUTPUT.
go_build() {
  local dir="$1" main="$2" out="$3" ldflags="$4"
  say "go build $main in ${dir#"$ST2_ROOT"/} -> ${out#"$ST2_ROOT"/}"
  mkdir -p "$(dirname "$out")"
  if (cd "$dir" && CGO_ENABLED=0 GOWORK=off "$GO" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "$ldflags" -o "$out.tmp" "$main" >&2); then
    mv -f "$out.tmp" "$out"
  else
    rm -f "$out.tmp"
    return 1
  fi
}

# build_pulumi: the released sdk and pkg modules of the pinned version, laid out as src/sdk and
# src/pkg, the layout pkg/go.mod's `replace github.com/pulumi/pulumi/sdk/v3 => ../sdk` expects.
build_pulumi() {
  local out="$ST2_TOOLCHAIN_BIN/pulumi" sdk_dir
  if ! mod_download "$SDK_MODULE@v$PULUMI_VERSION"; then
    fail pulumi "Go module $SDK_MODULE@v$PULUMI_VERSION: $MOD_ERROR"
    return 0
  fi
  sdk_dir="$MOD_DIR"
  if ! mod_download "$PKG_MODULE@v$PULUMI_VERSION"; then
    fail pulumi "Go module $PKG_MODULE@v$PULUMI_VERSION: $MOD_ERROR"
    return 0
  fi
  place "$sdk_dir" "$SRC/sdk"
  place "$MOD_DIR" "$SRC/pkg"
  check_local_replaces "$SRC/pkg" || { fail pulumi "$MOD_ERROR"; return 0; }
  go_build "$SRC/pkg" ./cmd/pulumi "$out" "-w -s -X $PULUMI_VERSION_VAR=v$PULUMI_VERSION" ||
    { fail pulumi "go build failed (see above)"; return 0; }
  pulumi_ok "$out" || fail pulumi "the built $out does not report v$PULUMI_VERSION"
}

# build_language_host: nodejs/cmd/pulumi-language-nodejs of sdk/v3 at LANGUAGE_HOST_SDK_VERSION,
# stamped with that version as upstream does (`pulumi about` lists it).
build_language_host() {
  local out="$ST2_TOOLCHAIN_BIN/pulumi-language-nodejs" dest="$SRC/sdk-v$LANGUAGE_HOST_SDK_VERSION"
  if ! mod_download "$SDK_MODULE@v$LANGUAGE_HOST_SDK_VERSION"; then
    fail pulumi-language-nodejs "Go module $SDK_MODULE@v$LANGUAGE_HOST_SDK_VERSION: $MOD_ERROR"
    return 0
  fi
  if [[ ! -d "$MOD_DIR/nodejs/cmd/pulumi-language-nodejs" ]]; then
    fail pulumi-language-nodejs "$SDK_MODULE@v$LANGUAGE_HOST_SDK_VERSION has no nodejs/cmd/pulumi-language-nodejs (only releases up to v3.68.0 do)"
    return 0
  fi
  place "$MOD_DIR" "$dest"
  go_build "$dest" ./nodejs/cmd/pulumi-language-nodejs "$out" \
    "-w -s -X $PULUMI_VERSION_VAR=v$LANGUAGE_HOST_SDK_VERSION" ||
    { fail pulumi-language-nodejs "go build failed (see above)"; return 0; }
  record_built "$out" "v$LANGUAGE_HOST_SDK_VERSION"
}

# build_own_provider VERSION: the project's provider, from the repository (its go.mod and go.sum).
build_own_provider() {
  [[ -f "$COMMAND_SRC/go.mod" ]] || { fail pulumi-resource-command "no $COMMAND_SRC/go.mod"; return 0; }
  go_build "$COMMAND_SRC" ./cmd/pulumi-resource-command "$OWN_PROVIDER" \
    "-w -s -X $COMMAND_VERSION_VAR=$COMMAND_VERSION" ||
    { fail pulumi-resource-command "go build failed (see above)"; return 0; }
  record_built "$OWN_PROVIDER" "$1"
}

# build NAME...: build what is missing; dies listing every failure.
build() {
  [[ -n "$GO" ]] || die "Go (>= 1.25) is needed to build $*; install it (e.g. /usr/local/go) or put pulumi v$PULUMI_VERSION with its plugins on PATH"
  note "building $* (pulumi v$PULUMI_VERSION, language host v$LANGUAGE_HOST_SDK_VERSION, command $COMMAND_VERSION) into $ST2_TOOLCHAIN_DIR (a first build takes minutes)"
  mkdir -p "$BUILD_DIR"
  if [[ -d "$SRC" ]]; then chmod -R u+w "$SRC" && rm -rf "$SRC"; fi
  local item
  for item in "$@"; do
    case "$item" in
      pulumi) build_pulumi ;;
      pulumi-language-nodejs) build_language_host ;;
      pulumi-resource-command) build_own_provider "$OWN_VERSION" ;;
    esac
  done
  if [[ -d "$SRC" ]]; then chmod -R u+w "$SRC" && rm -rf "$SRC"; fi
  if ((${#FAILURES[@]})); then
    note "the Pulumi toolchain is incomplete; cannot provide:"
    local f
    for f in "${FAILURES[@]}"; do note "  - $f"; done
    die "cannot provide the Pulumi engine (see above). Binaries that were built stay in $ST2_TOOLCHAIN_DIR for the next run."
  fi
}

# ---------------------------------------------------------------------------------------------

# path_pulumi_dir: the folder of a matching upstream pulumi on PATH with its language host beside it.
path_pulumi_dir() {
  local found dir
  found="$(command -v pulumi 2>/dev/null)" || return 1
  dir="$(dirname "$(readlink -f "$found")")"
  [[ "$dir" != "$ST2_TOOLCHAIN_BIN" ]] || return 1
  if ! pulumi_ok "$dir/pulumi"; then
    say "pulumi on PATH ($found) is not v$PULUMI_VERSION: not used"
    return 1
  fi
  if [[ ! -x "$dir/pulumi-language-nodejs" ]]; then
    say "pulumi on PATH ($found) has no pulumi-language-nodejs beside it: not used"
    return 1
  fi
  printf '%s\n' "$dir"
}

main() {
  local bin need=()
  # One build at a time (parallel test processes, a second terminal): the others wait, then reuse it.
  mkdir -p "$ST2_TOOLCHAIN_DIR"
  exec 9>"$ST2_TOOLCHAIN_DIR/lock"
  flock 9

  if bin="$(path_pulumi_dir)"; then
    say "using pulumi v$PULUMI_VERSION and its language host from PATH ($bin)"
  else
    bin="$ST2_TOOLCHAIN_BIN"
    pulumi_ok "$bin/pulumi" || need+=(pulumi)
    built_ok "$bin/pulumi-language-nodejs" "v$LANGUAGE_HOST_SDK_VERSION" || need+=(pulumi-language-nodejs)
  fi

  OWN_VERSION=""
  local real
  if real="$(st2_real_provider)"; then
    say "using the real pulumi-resource-command $COMMAND_VERSION in your plugin cache ($real)"
  else
    # Said even with --quiet: the operator must know which provider runs their steps.
    note "no real pulumi-resource-command $COMMAND_VERSION in $(st2_user_pulumi_home)/plugins: using the project's own provider (for offline machines and tests) from $ST2_PROJECT_PULUMI_HOME; with internet, install the real one: pulumi plugin install resource command $COMMAND_VERSION"
    OWN_VERSION="$(own_provider_version)"
    built_ok "$OWN_PROVIDER" "$OWN_VERSION" || need+=(pulumi-resource-command)
  fi

  if ((${#need[@]})); then
    build "${need[@]}"
  else
    say "reusing the built toolchain in $ST2_TOOLCHAIN_DIR"
  fi
  if [[ -n "$OWN_VERSION" ]]; then
    register_own_provider "$bin/pulumi"
  fi
  printf '%s\n' "$bin"
}

main
