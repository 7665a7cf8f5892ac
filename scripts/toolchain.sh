#!/usr/bin/env bash
# Provides this project's Pulumi engine at the versions package.json pins, without Pulumi's download
# sites (unreachable here): the `pulumi` CLI, the Node.js language host `pulumi-language-nodejs` and
# the command provider `pulumi-resource-command`. Uses a matching `pulumi` already on PATH, else
# builds them once from Go modules into .toolchain/bin and reuses them. Registers the command provider
# in the Pulumi plugin cache so the engine never tries to download it.
#
# Usage: scripts/toolchain.sh [--quiet]      (npm run toolchain)
# Prints the absolute folder holding the binaries on its LAST line of stdout; progress goes to stderr
# (--quiet: only build steps and errors). Exits non-zero, saying what is missing and why, when any of
# the three cannot be provided (binaries that could be built are kept for the next run).
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

# Version variables that upstream stamps with -ldflags -X.
PULUMI_VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version
COMMAND_VERSION_VAR=github.com/pulumi/pulumi-command/provider/pkg/version.Version

# Go modules and their main packages.
PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
LANG_MODULE=github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3
COMMAND_MODULE=github.com/pulumi/pulumi-command/provider
COMMAND_SDK_MODULE=github.com/pulumi/pulumi-command/sdk
# pulumi-command has no provider/vX tags, so its provider module is only reachable by the
# pseudo-version of the commit a release tag points at. The tag -> commit mapping cannot be computed
# offline; known releases are listed here (these are not version pins: package.json stays the one
# place the version is chosen). For a release not listed, the commit of the sdk/vX tag is tried.
command_known_pseudo_version() {
  case "$1" in
    1.2.1) printf '%s\n' v0.0.0-20260303235922-7f3eb6f3b77c ;;
    *) return 1 ;;
  esac
}

GO="$(command -v go || true)"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi

# ---------------------------------------------------------------------------------------------
# Checks of existing binaries.
#
# `pulumi version` says what the CLI is. The plugins have no version flag, and with -trimpath Go
# leaves -ldflags (the version stamp) out of the binary's build info (`go version -m`), so what
# this script builds is recorded in .toolchain/bin/VERSIONS ("NAME VERSION SHA256") and a binary is
# reused only while its line matches. The command provider counts as present when the Pulumi plugin
# cache holds it under its exact version: that is where the engine looks it up.

MANIFEST="$ST2_TOOLCHAIN_BIN/VERSIONS"
PLUGIN_CACHE_BINARY="$(st2_pulumi_home)/plugins/resource-command-v$COMMAND_VERSION/pulumi-resource-command"

pulumi_ok() { # PATH: a pulumi CLI that says it is v$PULUMI_VERSION
  [[ -x "$1" ]] && [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$1" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]
}

sha256() { sha256sum "$1" | cut -d' ' -f1; }

built_ok() { # NAME VERSION: $ST2_TOOLCHAIN_BIN/NAME is the binary this script built at VERSION
  local file="$ST2_TOOLCHAIN_BIN/$1"
  [[ -x "$file" && -f "$MANIFEST" ]] || return 1
  grep -Fxq -- "$1 $2 $(sha256 "$file")" "$MANIFEST"
}

record_built() { # NAME VERSION
  local line
  line="$1 $2 $(sha256 "$ST2_TOOLCHAIN_BIN/$1")"
  { grep -v -- "^$1 " "$MANIFEST" 2>/dev/null || true; printf '%s\n' "$line"; } >"$MANIFEST.tmp"
  mv -f "$MANIFEST.tmp" "$MANIFEST"
}

provider_registered() { [[ -x "$PLUGIN_CACHE_BINARY" ]]; }

# register_command_provider PULUMI PROVIDER_BINARY: put the provider in the plugin cache under its exact
# version, so the engine finds it and never tries to download it. Idempotent.
register_command_provider() {
  if provider_registered && cmp -s "$2" "$PLUGIN_CACHE_BINARY"; then
    return 0
  fi
  say "registering $2 as resource plugin command $COMMAND_VERSION in $(st2_pulumi_home)/plugins"
  PULUMI_SKIP_UPDATE_CHECK=true "$1" plugin install resource command "$COMMAND_VERSION" \
    --file "$2" --reinstall >&2 ||
    die "pulumi plugin install resource command $COMMAND_VERSION --file $2 failed"
}

# ---------------------------------------------------------------------------------------------
# 1. A matching pulumi already on PATH (an upstream install: the language host beside it, the
#    command provider in the plugin cache) is used as it is.

use_path_pulumi() {
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
  if ! provider_registered; then
    say "pulumi on PATH ($found): no command provider $COMMAND_VERSION in the plugin cache: not used"
    return 1
  fi
  say "using pulumi v$PULUMI_VERSION from PATH ($dir)"
  printf '%s\n' "$dir"
}

# ---------------------------------------------------------------------------------------------
# 2. Otherwise build from Go modules into .toolchain/bin (once).

BUILD_DIR="$ST2_TOOLCHAIN_DIR/build"
SRC="$BUILD_DIR/src"
FAILURES=()

# mod_download MODULE@VERSION: download with the Go client and set MOD_DIR, MOD_HASH and MOD_TIME
# (the VCS commit and its time when the proxy reports them, else "-"); on failure set MOD_ERROR.
mod_download() {
  local out
  MOD_DIR="" MOD_HASH="-" MOD_TIME="-" MOD_ERROR=""
  out="$(cd "$BUILD_DIR" && GOWORK=off GO111MODULE=on "$GO" mod download -json "$1" 2>&1)" || true
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  out="$(printf '%s' "$out" | node -e '
    let text = "";
    process.stdin.on("data", (d) => (text += d)).on("end", () => {
      let m = {};
      try { m = JSON.parse(text); } catch { m = { Error: text.trim() || "no answer" }; }
      if (m.Error || !m.Dir) { console.log(`ERR ${(m.Error || text).replace(/\s+/g, " ")}`); return; }
      let time = "-";
      try { time = JSON.parse(require("fs").readFileSync(m.Info, "utf8")).Time || "-"; } catch { }
      console.log(`OK ${m.Dir} ${(m.Origin && m.Origin.Hash) || "-"} ${time}`);
    });
  ')"
  if [[ "$out" == OK\ * ]]; then
    read -r _ MOD_DIR MOD_HASH MOD_TIME <<<"$out"
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

# pseudo_version MAJOR HASH TIME: the Go pseudo-version of a commit on a module path without tags.
pseudo_version() {
  local ts
  ts="$(date -u -d "$3" +%Y%m%d%H%M%S)"
  printf 'v%s.0.0-%s-%s\n' "$1" "$ts" "${2:0:12}"
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
  say "go build $main in ${dir#"$BUILD_DIR"/} -> $out"
  if (cd "$dir" && CGO_ENABLED=0 GOWORK=off "$GO" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "$ldflags" -o "$out.tmp" "$main" >&2); then
    mv -f "$out.tmp" "$out"
  else
    rm -f "$out.tmp"
    return 1
  fi
}

fail() { FAILURES+=("$1: $2"); } # WHAT WHY

# pulumi_modules: download the released sdk and pkg modules of the pinned version; sets SDK_DIR,
# PKG_DIR and the commit of tag pkg/vX (PKG_COMMIT, PKG_TIME).
SDK_DIR="" PKG_DIR="" PKG_COMMIT="" PKG_TIME="" TREE_ERROR=""
pulumi_modules() {
  [[ -z "$TREE_ERROR" ]] || return 1
  [[ -z "$PKG_DIR" ]] || return 0
  if ! mod_download "$SDK_MODULE@v$PULUMI_VERSION"; then
    TREE_ERROR="Go module $SDK_MODULE@v$PULUMI_VERSION: $MOD_ERROR"
    return 1
  fi
  SDK_DIR="$MOD_DIR"
  if ! mod_download "$PKG_MODULE@v$PULUMI_VERSION"; then
    TREE_ERROR="Go module $PKG_MODULE@v$PULUMI_VERSION: $MOD_ERROR"
    return 1
  fi
  PKG_DIR="$MOD_DIR" PKG_COMMIT="$MOD_HASH" PKG_TIME="$MOD_TIME"
}

# layout_pulumi_tree: copy them to src/sdk and src/pkg, the layout pkg/go.mod's
# `replace github.com/pulumi/pulumi/sdk/v3 => ../sdk` expects (so its go.sum stays valid).
layout_pulumi_tree() {
  pulumi_modules || return 1
  [[ ! -d "$SRC/pkg" ]] || return 0
  place "$SDK_DIR" "$SRC/sdk"
  place "$PKG_DIR" "$SRC/pkg"
  if ! check_local_replaces "$SRC/pkg"; then
    TREE_ERROR="$MOD_ERROR"
    return 1
  fi
}

build_pulumi() {
  local out="$ST2_TOOLCHAIN_BIN/pulumi"
  layout_pulumi_tree || { fail pulumi "$TREE_ERROR"; return 0; }
  go_build "$SRC/pkg" ./cmd/pulumi "$out" "-w -s -X $PULUMI_VERSION_VAR=v$PULUMI_VERSION" ||
    { fail pulumi "go build failed (see above)"; return 0; }
  pulumi_ok "$out" || fail pulumi "the built $out does not report v$PULUMI_VERSION"
}

build_language_host() {
  local version out="$ST2_TOOLCHAIN_BIN/pulumi-language-nodejs"
  local dest="$SRC/sdk/nodejs/cmd/pulumi-language-nodejs"
  pulumi_modules || { fail pulumi-language-nodejs "$TREE_ERROR"; return 0; }
  if [[ "$PKG_COMMIT" == - || "$PKG_TIME" == - ]]; then
    fail pulumi-language-nodejs "the module proxy did not say which commit tag pkg/v$PULUMI_VERSION is"
    return 0
  fi
  # A nested module with no tags of its own: the commit of the pkg/vX tag, by pseudo-version. Its
  # go.mod replaces pkg and sdk with ../../../../pkg and ../../.., which this layout satisfies.
  version="$(pseudo_version 3 "$PKG_COMMIT" "$PKG_TIME")"
  if ! mod_download "$LANG_MODULE@$version"; then
    fail pulumi-language-nodejs "Go module $LANG_MODULE@$version (commit of tag pkg/v$PULUMI_VERSION): $MOD_ERROR"
    return 0
  fi
  local lang_dir="$MOD_DIR"
  layout_pulumi_tree || { fail pulumi-language-nodejs "$TREE_ERROR"; return 0; }
  place "$lang_dir" "$dest"
  check_local_replaces "$dest" || { fail pulumi-language-nodejs "$MOD_ERROR"; return 0; }
  go_build "$dest" . "$out" "-w -s -X $PULUMI_VERSION_VAR=v$PULUMI_VERSION" ||
    { fail pulumi-language-nodejs "go build failed (see above)"; return 0; }
  record_built pulumi-language-nodejs "v$PULUMI_VERSION"
}

build_command_provider() {
  local candidates=() version errors="" found=""
  local out="$ST2_TOOLCHAIN_BIN/pulumi-resource-command" dest="$SRC/pulumi-command/provider"
  if version="$(command_known_pseudo_version "$COMMAND_VERSION")"; then candidates+=("$version"); fi
  if mod_download "$COMMAND_SDK_MODULE@v$COMMAND_VERSION" && [[ "$MOD_HASH" != - && "$MOD_TIME" != - ]]; then
    version="$(pseudo_version 0 "$MOD_HASH" "$MOD_TIME")"
    [[ " ${candidates[*]} " == *" $version "* ]] || candidates+=("$version")
  fi
  for version in "${candidates[@]}"; do
    if mod_download "$COMMAND_MODULE@$version"; then
      found="$MOD_DIR"
      break
    fi
    errors+="${errors:+; }@$version: $MOD_ERROR"
  done
  if [[ -z "$found" ]]; then
    fail pulumi-resource-command "Go module $COMMAND_MODULE for release v$COMMAND_VERSION: ${errors:-no commit known for this release}"
    return 0
  fi
  place "$found" "$dest"
  check_local_replaces "$dest" || { fail pulumi-resource-command "$MOD_ERROR"; return 0; }
  go_build "$dest" ./cmd/pulumi-resource-command "$out" "-w -s -X $COMMAND_VERSION_VAR=$COMMAND_VERSION" ||
    { fail pulumi-resource-command "go build failed (see above)"; return 0; }
  record_built pulumi-resource-command "$COMMAND_VERSION"
}

use_toolchain_bin() {
  local bin="$ST2_TOOLCHAIN_BIN" need=()
  pulumi_ok "$bin/pulumi" || need+=(pulumi)
  built_ok pulumi-language-nodejs "v$PULUMI_VERSION" || need+=(pulumi-language-nodejs)
  if ! built_ok pulumi-resource-command "$COMMAND_VERSION" && ! provider_registered; then
    need+=(pulumi-resource-command)
  fi

  if ((${#need[@]})); then
    [[ -n "$GO" ]] || die "Go (>= 1.25) is needed to build ${need[*]}; install it (e.g. /usr/local/go) or put pulumi v$PULUMI_VERSION with its plugins on PATH"
    note "building ${need[*]} (pulumi v$PULUMI_VERSION, command $COMMAND_VERSION) into $bin (a first build takes minutes)"
    mkdir -p "$bin" "$BUILD_DIR"
    if [[ -d "$SRC" ]]; then chmod -R u+w "$SRC" && rm -rf "$SRC"; fi
    local item
    for item in "${need[@]}"; do
      case "$item" in
        pulumi) build_pulumi ;;
        pulumi-language-nodejs) build_language_host ;;
        pulumi-resource-command) build_command_provider ;;
      esac
    done
    chmod -R u+w "$SRC" 2>/dev/null || true
    rm -rf "$SRC"
  else
    say "reusing $bin (pulumi and pulumi-language-nodejs v$PULUMI_VERSION, command $COMMAND_VERSION)"
  fi

  if ((${#FAILURES[@]})); then
    note "the Pulumi toolchain is incomplete; cannot provide:"
    local f
    for f in "${FAILURES[@]}"; do note "  - $f"; done
    die "cannot provide the Pulumi engine (see above). Binaries that were built stay in $bin for the next run."
  fi
  if built_ok pulumi-resource-command "$COMMAND_VERSION"; then
    register_command_provider "$bin/pulumi" "$bin/pulumi-resource-command"
  fi
  printf '%s\n' "$bin"
}

use_path_pulumi && exit 0
# One build at a time (parallel test processes, a second terminal): the others wait, then reuse it.
mkdir -p "$ST2_TOOLCHAIN_DIR"
exec 9>"$ST2_TOOLCHAIN_DIR/lock"
flock 9
use_toolchain_bin
