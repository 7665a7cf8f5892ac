#!/usr/bin/env bash
# The README's main job on the built-in example: two lab hosts at StackStorm 2.0.1 (made on this
# machine by lab/bin/up.sh, Ubuntu 14.04 by their os-release), `pulumi up` of the dev stack
# (Pulumi.dev.yaml) to 3.0.1, the newest release their OS takes in place, then the
# stack's outputs. Safe to run again: hosts already up are kept and the second `up` changes nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/system-deps.sh
bash lab/bin/up.sh --hosts 2 --version 2.0.1 --name-prefix st2h

# Pulumi.dev.yaml names the hosts' addresses: refuse to upgrade whatever else answers there.
for pair in st2h1=10.200.0.11 st2h2=10.200.0.12; do
  name=${pair%%=*} address=${pair#*=}
  actual=$(node -e 'const h = require(process.argv[1]).find((x) => x.name === process.argv[2]); process.stdout.write(h ? h.address : "")' "$PWD/.lab/hosts.json" "$name")
  if [[ "$actual" != "$address" ]]; then
    echo "example: lab host $name is at '${actual:-nowhere}', Pulumi.dev.yaml expects $address; run 'npm run lab:down' and try again" >&2
    exit 1
  fi
done

# Pulumi.dev.yaml pins the hosts' SSH host keys (ssh.knownHostsFile, ssh.requireHostKey): taken here
# from the lab's own key files (lab/lib/host.sh keeps them per host name), the out-of-band check a real
# operator makes on the host's console. A host presenting another key is refused before any login.
known=.lab/known_hosts
: > "$known.tmp"
for pair in st2h1=10.200.0.11 st2h2=10.200.0.12; do
  name=${pair%%=*} address=${pair#*=}
  printf '%s %s\n' "$address" "$(cut -d' ' -f1,2 ".lab/keys/hosts/$name/etc/ssh/ssh_host_ed25519_key.pub")" >> "$known.tmp"
done
mv "$known.tmp" "$known"

# The dev stack's state describes the hosts it upgraded. Lab hosts made anew (new SSH host keys)
# are different machines: start their stack afresh rather than believe they are upgraded.
identity=$(cat .lab/hosts/st2h1/root/etc/ssh/ssh_host_ed25519_key.pub .lab/hosts/st2h2/root/etc/ssh/ssh_host_ed25519_key.pub | sha256sum | cut -d' ' -f1)
mkdir -p .pulumi-state
if bash scripts/pulumi.sh stack select dev --non-interactive >/dev/null 2>&1; then
  # A checkout of Pulumi.dev.yaml without this machine's encryptionsalt cannot open the old state either.
  if [[ "$(cat .pulumi-state/example-hosts 2>/dev/null)" != "$identity" ]] || ! grep -q '^encryptionsalt:' Pulumi.dev.yaml; then
    echo "example: the lab hosts or the stack config are new; starting the dev stack's state afresh"
    bash scripts/pulumi.sh stack rm dev --force --yes --preserve-config --non-interactive >/dev/null
    bash scripts/pulumi.sh stack init dev --non-interactive
  fi
else
  bash scripts/pulumi.sh stack init dev --non-interactive
fi
printf '%s\n' "$identity" > .pulumi-state/example-hosts

bash scripts/pulumi.sh up --stack dev --yes --non-interactive --skip-preview
bash scripts/pulumi.sh stack output --stack dev --json
