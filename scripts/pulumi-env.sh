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

# The project's own Pulumi home: where the toolchain registers the project's command provider, and
# the Pulumi home the engine runs with when no real provider is installed (st2_pulumi_env). It
# exists for offline machines and tests; nothing of the project ever goes into the user's home.
ST2_PROJECT_PULUMI_HOME="$ST2_TOOLCHAIN_DIR/home"

# st2_user_pulumi_home: the user's Pulumi home ($PULUMI_HOME, else ~/.pulumi). Read, never written.
st2_user_pulumi_home() {
  printf '%s\n' "${PULUMI_HOME:-$HOME/.pulumi}"
}

# A string only the project's own provider binary contains (its Go package path, kept in every Go
# binary's function table, stripped or not).
ST2_OWN_PROVIDER_MARKER="st2-upgrade/toolchain/command-provider"

st2_is_own_provider() { [[ -f "$1" ]] && grep -aqF -- "$ST2_OWN_PROVIDER_MARKER" "$1"; }

# st2_real_provider: prints the path of a real (upstream) pulumi-resource-command of the pinned
# version in the user's plugin cache, and succeeds, when there is one: then that provider and the
# user's Pulumi home are used as they are, and the project's provider is not used at all.
st2_real_provider() {
  local version binary
  version="$(st2_pinned_version @pulumi/command)" || return 1
  binary="$(st2_user_pulumi_home)/plugins/resource-command-v$version/pulumi-resource-command"
  [[ -x "$binary" ]] && ! st2_is_own_provider "$binary" || return 1
  printf '%s\n' "$binary"
}

# st2_login_backend HOME: the backend a `pulumi login` recorded in HOME/credentials.json, if any.
st2_login_backend() {
  local creds="$1/credentials.json"
  [[ -f "$creds" ]] || return 1
  local current
  current="$(node -e '
    try { process.stdout.write(String(require(process.argv[1]).current || "")); } catch { }
  ' "$creds")"
  [[ -n "$current" ]] || return 1
  printf '%s\n' "$current"
}

# st2_user_backend: succeeds (and says which) when the user chose a backend of their own, which this
# project must never override: PULUMI_BACKEND_URL, a `backend:` in ./Pulumi.yaml, or a login recorded
# in the user's Pulumi home or in the project's (`npm run pulumi -- login URL`).
st2_user_backend() {
  if [[ -n "${PULUMI_BACKEND_URL:-}" ]]; then
    printf 'PULUMI_BACKEND_URL=%s\n' "$PULUMI_BACKEND_URL"
    return 0
  fi
  if [[ -f Pulumi.yaml ]] && grep -Eq '^backend:' Pulumi.yaml; then
    printf 'backend in %s/Pulumi.yaml\n' "$PWD"
    return 0
  fi
  local home current
  for home in "$(st2_user_pulumi_home)" "$ST2_PROJECT_PULUMI_HOME"; do
    if current="$(st2_login_backend "$home")"; then
      printf 'login %s (%s)\n' "$current" "$home/credentials.json"
      return 0
    fi
  done
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
#  - BIN_DIR first on PATH (pulumi, and the language host beside it);
#  - the Pulumi home: the user's, as it is, when it holds a real command provider of the pinned
#    version (st2_real_provider); otherwise the project's (ST2_PROJECT_PULUMI_HOME, where the
#    toolchain registered the project's provider). A login recorded in the user's home is carried
#    over (PULUMI_BACKEND_URL, and for Pulumi Cloud its token as PULUMI_ACCESS_TOKEN) so that the
#    user keeps their backend; the user's home itself is never written;
#  - no update check and no automatic plugin downloads (they cannot succeed here, and an unused
#    plugin such as @pulumi/aws's must not be fetched), unless the caller set these variables;
#  - the program transpiled only (PULUMI_NODEJS_TRANSPILE_ONLY, read by @pulumi/pulumi's runner):
#    `npm run build` type-checks it, and a type check on every engine run costs seconds of CPU;
#  - unless the user chose a backend (st2_user_backend), the project's own file backend in
#    .pulumi-state/ and, unless a passphrase is already given, its generated passphrase file.
st2_pulumi_env() {
  local bin="$1" entry new="$1" login
  local -a entries
  IFS=: read -ra entries <<<"${PATH:-}"
  for entry in "${entries[@]}"; do
    [[ -z "$entry" || "$entry" == "$bin" ]] || new+=":$entry"
  done
  export PATH="$new"
  if st2_real_provider >/dev/null; then
    export ST2_COMMAND_PROVIDER=real
  else
    export ST2_COMMAND_PROVIDER=project
    if [[ -z "${PULUMI_BACKEND_URL:-}" ]] && login="$(st2_login_backend "$(st2_user_pulumi_home)")"; then
      export PULUMI_BACKEND_URL="$login"
      if [[ "$login" == http* && -z "${PULUMI_ACCESS_TOKEN:-}" ]]; then
        PULUMI_ACCESS_TOKEN="$(node -e '
          try {
            const c = require(process.argv[1]);
            process.stdout.write(String((c.accessTokens || {})[c.current] || ""));
          } catch { }
        ' "$(st2_user_pulumi_home)/credentials.json")"
        [[ -z "$PULUMI_ACCESS_TOKEN" ]] || export PULUMI_ACCESS_TOKEN
      fi
    fi
    export PULUMI_HOME="$ST2_PROJECT_PULUMI_HOME"
  fi
  export PULUMI_SKIP_UPDATE_CHECK="${PULUMI_SKIP_UPDATE_CHECK:-true}"
  export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="${PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION:-true}"
  export PULUMI_NODEJS_TRANSPILE_ONLY="${PULUMI_NODEJS_TRANSPILE_ONLY:-true}"
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
