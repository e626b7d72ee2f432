import type { ServerTrust } from './worker-url.ts';

/** What the served script pins: checksums of the files it fetches, the server's key, and the host it can serve. */
export interface BootstrapInputs {
  nodeSha256: string;
  agentSha256: string;
  /** `uname -m` of a host the coordinator's node runs on. */
  machine: string;
  /** An HTTPS coordinator's certificate: downloads pin its key, the agent trusts it alone. */
  trust?: ServerTrust;
}

const pinPattern = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;
const pemPattern = /^[-A-Za-z0-9+/= \n]+$/;

const unameMachine: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' };

/** `uname -m` of hosts that can run the node executable this process runs on. */
export function hostMachine(): string | undefined {
  return process.platform === 'linux' ? unameMachine[process.arch] : undefined;
}

/**
 * A POSIX sh script that brings a bare Linux host from nothing to a running agent, with
 * only the coordinator to download from: node and the agent bundle are fetched, checked
 * against the sums written in here, cached under those sums, and the agent is exec'd.
 * Everything the caller chooses comes from the environment, never pasted into the text;
 * what is pasted is checked to be hex or a machine name first.
 */
export function bootstrapScript(inputs: BootstrapInputs): string {
  for (const sum of [inputs.nodeSha256, inputs.agentSha256]) if (!/^[0-9a-f]{64}$/.test(sum)) throw new Error('not a sha256');
  if (!/^[a-z0-9_]+$/.test(inputs.machine)) throw new Error('not a machine name');
  const trust = inputs.trust;
  if (trust && (!pinPattern.test(trust.pin) || !pemPattern.test(trust.certificate))) throw new Error('not a public key pin and a PEM certificate');
  return `#!/bin/sh
# Slipway agent bootstrap, served by the coordinator. It reads:
#   SLIPWAY_SERVER              the coordinator's URL (required)
#   SLIPWAY_REGISTRATION_TOKEN_FILE  a private file holding this worker's one-time token,
#                               removed once read (or SLIPWAY_REGISTRATION_TOKEN, the token
#                               itself, where nothing else runs yet: cloud-init)
#   SLIPWAY_WORKER              the worker's id, naming its directory
#   SLIPWAY_ROOT                where runtimes and workers live (default ~/.slipway)
#   SLIPWAY_WORK_DIR            the worker's directory (default $SLIPWAY_ROOT/$SLIPWAY_WORKER)
#   SLIPWAY_ALLOW_PLAIN_HTTP    "1": an http:// coordinator on another machine is accepted
#   SLIPWAY_TASK_USER           a user name, for a bootstrap run as root (EC2): the agent runs
#                               the machine's prepare and the worker's init as root, then
#                               becomes this user (made if missing) for its tasks and cleanup
set -eu
umask 077
say() { printf 'slipway bootstrap: %s\\n' "$*" >&2; }
die() { say "$*"; exit 1; }

node_sha256=${inputs.nodeSha256}
agent_sha256=${inputs.agentSha256}
machine=${inputs.machine}
# The coordinator's public key (curl and wget pin it) and certificate (the agent trusts it alone).
server_pin=${trust ? `'${trust.pin}'` : ''}
server_certificate='${trust?.certificate.trim() ?? ''}'

[ -n "\${SLIPWAY_SERVER:-}" ] || die "SLIPWAY_SERVER is not set"
case $SLIPWAY_SERVER in
  https://*) ;;
  http://127.*|http://localhost:*|http://localhost|http://\\[::1\\]*) ;;
  *) [ "\${SLIPWAY_ALLOW_PLAIN_HTTP:-}" = 1 ] || die "refusing plain HTTP to a coordinator on another machine ($SLIPWAY_SERVER): the token would cross the network in clear (SLIPWAY_ALLOW_PLAIN_HTTP=1, [server] plain_http_workers, to allow it)" ;;
esac
# The token stays in this shell's memory: exported, every process started from here would
# carry it in its environment, where other processes of the user can read it.
if [ -n "\${SLIPWAY_REGISTRATION_TOKEN_FILE:-}" ]; then
  token=$(cat "$SLIPWAY_REGISTRATION_TOKEN_FILE") || die "cannot read $SLIPWAY_REGISTRATION_TOKEN_FILE"
  rm -f "$SLIPWAY_REGISTRATION_TOKEN_FILE"
else
  token=\${SLIPWAY_REGISTRATION_TOKEN:-}
fi
unset SLIPWAY_REGISTRATION_TOKEN SLIPWAY_REGISTRATION_TOKEN_FILE
[ -n "$token" ] || die "SLIPWAY_REGISTRATION_TOKEN_FILE (or SLIPWAY_REGISTRATION_TOKEN) is not set"
host="$(uname -s) $(uname -m)"
[ "$host" = "Linux $machine" ] || die "this host is $host; the coordinator can only provide node for Linux $machine"
root=\${SLIPWAY_ROOT:-\${HOME:?HOME is not set}/.slipway}
task_user=\${SLIPWAY_TASK_USER:-}
unset SLIPWAY_TASK_USER
if [ -n "$task_user" ]; then
  case $task_user in
    *[!a-z0-9_-]* | [!a-z_]*) die "SLIPWAY_TASK_USER is not a user name: $task_user" ;;
  esac
  [ "$(id -u)" = 0 ] || die "SLIPWAY_TASK_USER is for a bootstrap run as root, whose tasks run as that user"
  id -u "$task_user" >/dev/null 2>&1 || useradd --system --user-group --create-home --shell /bin/bash "$task_user" >&2 ||
    die "could not make the user $task_user that tasks run as (useradd)"
  SLIPWAY_TASK_USER=$(id -u "$task_user"):$(id -g "$task_user")
  case $SLIPWAY_TASK_USER in 0:* | *:0) die "SLIPWAY_TASK_USER names $task_user, which is root or in root's group" ;; esac
fi
if [ -z "\${SLIPWAY_WORK_DIR:-}" ]; then
  case "\${SLIPWAY_WORKER:-}" in
    w-*[!0-9a-z-]* | '') die "set SLIPWAY_WORK_DIR, or SLIPWAY_WORKER to a worker id" ;;
    w-*) SLIPWAY_WORK_DIR=$root/$SLIPWAY_WORKER ;;
    *) die "SLIPWAY_WORKER is not a worker id" ;;
  esac
fi
mkdir -p "$root/runtime" "$SLIPWAY_WORK_DIR"
# The task user reaches its worker's directory, which the agent gives it, and lists nothing here.
[ -z "$task_user" ] || chmod 711 "$root"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not installed (coreutils); it checks the downloads"

# The token goes to curl or wget in a private file, never on a command line (ps shows those).
auth=$SLIPWAY_WORK_DIR/.download-auth
trap 'rm -f "$auth"' EXIT
if command -v curl >/dev/null 2>&1; then
  printf 'header = "Authorization: Bearer %s"\\n' "$token" > "$auth"
  fetch() { curl -fsS --retry 3 \${server_pin:+--insecure --pinnedpubkey "$server_pin"} -K "$auth" -o "$2" "$SLIPWAY_SERVER/api/v1/agent/$1"; }
elif command -v wget >/dev/null 2>&1; then
  printf 'header = Authorization: Bearer %s\\n' "$token" > "$auth"
  fetch() { WGETRC=$auth wget -q \${server_pin:+--no-check-certificate --pinnedpubkey="$server_pin"} -O "$2" "$SLIPWAY_SERVER/api/v1/agent/$1"; }
else
  die "neither curl nor wget is installed; one is needed to download the agent"
fi

# A file is kept under its checksum only once it matched, so one found there is good.
fetch_checked() {
  [ -f "$3" ] && return 0
  part=$3.part.$$
  fetch "$1" "$part" || { rm -f "$part"; die "could not download $1 from $SLIPWAY_SERVER"; }
  got=$(sha256sum "$part" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    rm -f "$part"
    die "checksum mismatch for $1: expected $2, got $got"
  fi
  chmod 700 "$part"
  mv -f "$part" "$3"
}
# Workers starting together on one host download once: the others wait for the first.
lock=$root/runtime/.downloading
waited=0
until mkdir "$lock" 2>/dev/null; do
  # A lock left by a bootstrap that was killed is taken over after five minutes.
  [ -z "$(find "$lock" -maxdepth 0 -mmin +5 2>/dev/null)" ] || rmdir "$lock" 2>/dev/null || true
  [ "$waited" -lt 600 ] || die "another bootstrap has held $lock for ten minutes"
  sleep 1
  waited=$((waited + 1))
done
trap 'rm -f "$auth"; rmdir "$lock" 2>/dev/null' EXIT
node=$root/runtime/node-$node_sha256
agent=$root/runtime/slipway-agent-$agent_sha256.mjs
fetch_checked node "$node_sha256" "$node"
fetch_checked slipway-agent.mjs "$agent_sha256" "$agent"
rm -f "$auth"
rmdir "$lock"
trap - EXIT
# Execute only: a process started from a file its user cannot read is closed to that user's
# other processes, so the agent's tasks, of its uid, cannot read its memory or /proc files.
chmod 100 "$node"

SLIPWAY_MACHINE=\${SLIPWAY_MACHINE:-$SLIPWAY_WORK_DIR}
SLIPWAY_SEAL=1
export SLIPWAY_SERVER SLIPWAY_WORK_DIR SLIPWAY_MACHINE SLIPWAY_SEAL
[ -z "$task_user" ] || export SLIPWAY_TASK_USER
[ -z "$server_certificate" ] || { SLIPWAY_SERVER_CERTIFICATE=$server_certificate; export SLIPWAY_SERVER_CERTIFICATE; }
cd "$SLIPWAY_WORK_DIR"
# The agent reads its token on stdin.
exec "$node" "$agent" <<SLIPWAY_TOKEN_END
$token
SLIPWAY_TOKEN_END
`;
}
