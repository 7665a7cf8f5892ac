#!/usr/bin/env bash
# Provides actionlint (https://github.com/rhysd/actionlint), the linter of GitHub Actions workflows,
# for the test that checks the example pipeline (tests/lint/workflow.test.ts). Like the Pulumi
# toolchain (scripts/toolchain.sh) it is built once from its Go module, served by the module proxy,
# into .toolchain/bin (git-ignored, never committed), recorded in .toolchain/bin/VERSIONS with its
# sha256 and reused while that line matches. An `actionlint` of the pinned version on PATH is used
# as it is.
#
# Usage: scripts/actionlint.sh           prints the absolute path of actionlint on its LAST line of
#                                        stdout; progress and errors go to stderr.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=pulumi-env.sh
. "$(dirname "${BASH_SOURCE[0]}")/pulumi-env.sh"

# The one place the version is pinned.
ACTIONLINT_MODULE=github.com/rhysd/actionlint
ACTIONLINT_VERSION=1.7.12

say() { printf 'actionlint.sh: %s\n' "$*" >&2; }
die() { printf 'actionlint.sh: ERROR: %s\n' "$*" >&2; exit 1; }

MANIFEST="$ST2_TOOLCHAIN_BIN/VERSIONS"
OUT="$ST2_TOOLCHAIN_BIN/actionlint"
BUILD_DIR="$ST2_TOOLCHAIN_DIR/build/actionlint"

GO="$(command -v go || true)"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then GO=/usr/local/go/bin/go; fi

sha256() { sha256sum "$1" | cut -d' ' -f1; }

built_ok() { # FILE VERSION
  [[ -x "$1" && -f "$MANIFEST" ]] || return 1
  grep -Fxq -- "$(basename "$1") $2 $(sha256 "$1")" "$MANIFEST"
}

record_built() { # FILE VERSION (the same manifest lines as scripts/toolchain.sh writes)
  local name line
  name="$(basename "$1")"
  line="$name $2 $(sha256 "$1")"
  { grep -v -- "^$name " "$MANIFEST" 2>/dev/null || true; printf '%s\n' "$line"; } >"$MANIFEST.tmp"
  mv -f "$MANIFEST.tmp" "$MANIFEST"
}

# on_path: an actionlint on PATH that says it is the pinned version.
on_path() {
  local found
  found="$(command -v actionlint 2>/dev/null)" || return 1
  [[ "$found" != "$OUT" ]] || return 1
  "$found" -version 2>/dev/null | head -n 1 | grep -Fxq -- "v$ACTIONLINT_VERSION" || return 1
  printf '%s\n' "$found"
}

build() {
  [[ -n "$GO" ]] || die "Go (>= 1.24) is needed to build actionlint v$ACTIONLINT_VERSION; install it or put actionlint v$ACTIONLINT_VERSION on PATH"
  local json dir
  mkdir -p "$BUILD_DIR" "$ST2_TOOLCHAIN_BIN"
  json="$(cd "$BUILD_DIR" && GOWORK=off GO111MODULE=on "$GO" mod download -json "$ACTIONLINT_MODULE@v$ACTIONLINT_VERSION" 2>&1)" ||
    die "Go module $ACTIONLINT_MODULE@v$ACTIONLINT_VERSION could not be downloaded: $(printf '%s' "$json" | tr -s '\n' ' ')"
  dir="$(printf '%s' "$json" | node -e 'let t="";process.stdin.on("data",(d)=>(t+=d)).on("end",()=>{const m=JSON.parse(t);if(m.Error||!m.Dir)process.exit(1);process.stdout.write(m.Dir);})')" ||
    die "Go module $ACTIONLINT_MODULE@v$ACTIONLINT_VERSION: $(printf '%s' "$json" | tr -s '\n' ' ')"
  # The module cache is read-only: build from a copy, with the module's own go.mod and go.sum.
  rm -rf "$BUILD_DIR/src"
  cp -R "$dir" "$BUILD_DIR/src"
  chmod -R u+w "$BUILD_DIR/src"
  say "go build $ACTIONLINT_MODULE/cmd/actionlint v$ACTIONLINT_VERSION -> ${OUT#"$ST2_ROOT"/}"
  if (cd "$BUILD_DIR/src" && CGO_ENABLED=0 GOWORK=off "$GO" build -trimpath \
    -ldflags "-w -s -X $ACTIONLINT_MODULE.version=v$ACTIONLINT_VERSION" -o "$OUT.tmp" ./cmd/actionlint >&2); then
    mv -f "$OUT.tmp" "$OUT"
  else
    rm -f "$OUT.tmp"
    rm -rf "$BUILD_DIR/src"
    die "go build of actionlint v$ACTIONLINT_VERSION failed (see above)"
  fi
  rm -rf "$BUILD_DIR/src"
  record_built "$OUT" "v$ACTIONLINT_VERSION"
}

main() {
  local found
  if found="$(on_path)"; then
    printf '%s\n' "$found"
    return 0
  fi
  mkdir -p "$ST2_TOOLCHAIN_DIR"
  # One build at a time (parallel test processes): the others wait, then reuse it.
  exec 9>"$ST2_TOOLCHAIN_DIR/actionlint.lock"
  flock 9
  built_ok "$OUT" "v$ACTIONLINT_VERSION" || build
  printf '%s\n' "$OUT"
}

main
