# shellcheck shell=bash
# The one place that knows where this project's Pulumi engine lives and which environment it runs
# with. Sourced by scripts/toolchain.sh and scripts/pulumi.sh (and, through `bash -c`, by the test
# helper tests/support/engine.ts). It only defines variables and functions; nothing runs on source.

# shellcheck disable=SC2034 # used by the scripts that source this file
ST2_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ST2_TOOLCHAIN_DIR="$ST2_ROOT/.toolchain"
ST2_TOOLCHAIN_BIN="$ST2_TOOLCHAIN_DIR/bin"
ST2_STATE_DIR="$ST2_ROOT/.pulumi-state"
ST2_PASSPHRASE_FILE="$ST2_STATE_DIR/passphrase"

# st2_pinned_version NPM_PACKAGE: the exact version package.json pins for NPM_PACKAGE (package.json
# is the single place versions are pinned; the engine binaries are built to match it).
st2_pinned_version() {
  # shellcheck disable=SC2016 # JavaScript template literals, not shell expansions
  node -e '
    const [file, name] = process.argv.slice(1);
    const pkg = require(file);
    const v = (pkg.dependencies || {})[name] || (pkg.devDependencies || {})[name];
    if (!v) { console.error(`package.json does not depend on ${name}`); process.exit(1); }
    if (!/^\d+\.\d+\.\d+$/.test(v)) {
      console.error(`package.json must pin ${name} to an exact version, not "${v}"`);
      process.exit(1);
    }
    process.stdout.write(v);
  ' "$ST2_ROOT/package.json" "$1"
}

# st2_pulumi_home: the Pulumi home folder in force (plugin cache, credentials).
st2_pulumi_home() {
  printf '%s\n' "${PULUMI_HOME:-$HOME/.pulumi}"
}

# st2_user_backend: succeeds (and says which) when the user chose a backend of their own, which this
# project must never override: PULUMI_BACKEND_URL, a `backend:` in ./Pulumi.yaml, or a login recorded
# in the Pulumi home's credentials.json.
st2_user_backend() {
  if [[ -n "${PULUMI_BACKEND_URL:-}" ]]; then
    printf 'PULUMI_BACKEND_URL=%s\n' "$PULUMI_BACKEND_URL"
    return 0
  fi
  if [[ -f Pulumi.yaml ]] && grep -Eq '^backend:' Pulumi.yaml; then
    printf 'backend in %s/Pulumi.yaml\n' "$PWD"
    return 0
  fi
  local creds current
  creds="$(st2_pulumi_home)/credentials.json"
  if [[ -f "$creds" ]]; then
    current="$(node -e '
      try { process.stdout.write(String(require(process.argv[1]).current || "")); } catch { }
    ' "$creds")"
    if [[ -n "$current" ]]; then
      printf 'login %s (%s)\n' "$current" "$creds"
      return 0
    fi
  fi
  return 1
}

# st2_ensure_passphrase: create the local backend's secrets passphrase once (mode 600).
st2_ensure_passphrase() {
  if [[ ! -s "$ST2_PASSPHRASE_FILE" ]]; then
    mkdir -p "$ST2_STATE_DIR"
    chmod 700 "$ST2_STATE_DIR"
    (
      umask 077
      head -c 32 /dev/urandom | base64 >"$ST2_PASSPHRASE_FILE.tmp"
      mv "$ST2_PASSPHRASE_FILE.tmp" "$ST2_PASSPHRASE_FILE"
    )
  fi
  chmod 600 "$ST2_PASSPHRASE_FILE"
}

# st2_pulumi_env BIN_DIR: export the environment the engine runs with.
#  - BIN_DIR first on PATH (pulumi, and the plugins beside it);
#  - no update check and no automatic plugin downloads (they cannot succeed here, and an unused
#    plugin such as @pulumi/aws's must not be fetched), unless the caller set these variables;
#  - unless the user chose a backend (st2_user_backend), the project's own file backend in
#    .pulumi-state/ and, unless a passphrase is already given, its generated passphrase file.
st2_pulumi_env() {
  local bin="$1" entry new="$1"
  local -a entries
  IFS=: read -ra entries <<<"${PATH:-}"
  for entry in "${entries[@]}"; do
    [[ -z "$entry" || "$entry" == "$bin" ]] || new+=":$entry"
  done
  export PATH="$new"
  export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
  if ! st2_user_backend >/dev/null; then
    mkdir -p "$ST2_STATE_DIR"
    chmod 700 "$ST2_STATE_DIR"
    export PULUMI_BACKEND_URL="file://$ST2_STATE_DIR"
    if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
      st2_ensure_passphrase
      export PULUMI_CONFIG_PASSPHRASE_FILE="$ST2_PASSPHRASE_FILE"
    fi
  fi
}
