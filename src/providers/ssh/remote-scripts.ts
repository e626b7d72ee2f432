/**
 * The shell a host runs for the ssh provider. Every value goes in single-quoted (or is
 * checked to be a worker id or a number first); none reaches a command line the host's
 * other users could read in `ps`, and the token travels only on the channel's stdin.
 */
import { machineMarker } from '../../agent/machine-marker.ts';

const workerIdPattern = /^w-[0-9a-z]+$/;

/** `value` as one sh word, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The host's work_dir as sh: `~` and `~/…` become the remote user's home, a relative path is in it too. */
export function remoteRoot(workDir: string): string {
  if (workDir === '~') return '"$HOME"';
  if (workDir.startsWith('~/')) return `"$HOME"/${shellQuote(workDir.slice(2))}`;
  if (workDir.startsWith('/')) return shellQuote(workDir);
  return `"$HOME"/${shellQuote(workDir)}`;
}

/** A registration token as newSecret makes it (base64url), so it can stand alone on a line of a here-document. */
function checkedToken(token: string): string {
  if (!/^[A-Za-z0-9_-]{16,128}$/.test(token)) throw new Error('a registration token is 16 to 128 characters of A-Z a-z 0-9 _ -');
  return token;
}

function checkedWorker(workerId: string): string {
  if (!workerIdPattern.test(workerId)) throw new Error(`not a worker id: ${JSON.stringify(workerId.slice(0, 40))}`);
  return workerId;
}

/** Prints `pid start` of a process, its start time from /proc so a recycled pid is told apart. */
const startTimeOf = (pid: string): string => `sed 's/.*) //' /proc/${pid}/stat 2>/dev/null | cut -d' ' -f20`;

export interface Launch {
  workerId: string;
  workDir: string;
  serverUrl: string;
  registrationToken: string;
  bootstrap: string;
  /** The coordinator may be reached over plain HTTP from this host ([server] plain_http_workers). */
  allowPlainHttp?: boolean;
}

/**
 * Sent to `sh -s`: writes the bootstrap, a private env file and a private file with the
 * registration token (the bootstrap removes it once read, so the token is never in an
 * environment) into the worker's directory, starts the bootstrap as its own session (so it
 * outlives this channel and its process group is the whole machine), and prints its pid
 * and start time.
 */
export function launchScript(launch: Launch): string {
  const worker = checkedWorker(launch.workerId);
  const bootstrapEnd = 'SLIPWAY_BOOTSTRAP_END';
  if (launch.bootstrap.split('\n').includes(bootstrapEnd)) throw new Error('the bootstrap script holds its own end marker');
  return `set -eu
umask 077
root=${remoteRoot(launch.workDir)}
dir=$root/${worker}
mkdir -p "$dir"
cat > "$dir/bootstrap.sh" <<'${bootstrapEnd}'
${launch.bootstrap}
${bootstrapEnd}
cat > "$dir/registration-token" <<'SLIPWAY_TOKEN_END'
${checkedToken(launch.registrationToken)}
SLIPWAY_TOKEN_END
cat > "$dir/env" <<'SLIPWAY_ENV_END'
SLIPWAY_SERVER=${shellQuote(launch.serverUrl)}
SLIPWAY_REGISTRATION_TOKEN_FILE="$SLIPWAY_ROOT/${worker}/registration-token"
SLIPWAY_WORKER=${worker}
SLIPWAY_PREPARED_DIR="$SLIPWAY_ROOT/prepared"
${launch.allowPlainHttp ? 'SLIPWAY_ALLOW_PLAIN_HTTP=1\n' : ''}SLIPWAY_ENV_END
cd "$dir"
SLIPWAY_ROOT=$root setsid sh -c 'set -a; . ./env; rm -f ./env; set +a; exec sh ./bootstrap.sh' > "$dir/agent.log" 2>&1 < /dev/null &
pid=$!
echo "$pid $(${startTimeOf('$pid')})" > "$dir/agent.pid"
cat "$dir/agent.pid"
`;
}

/** An agent as the host knows it: its pid, and its start time to tell a recycled pid apart. */
export interface AgentProcess {
  pid: number;
  start: string;
}

/** Prints `PID running` or `PID gone` for each agent, so one session answers for every machine on a host. */
export function statusScript(agents: AgentProcess[]): string {
  return agents.map(({ pid, start }) => {
    const checked = checkedPid(pid);
    return `[ "$(${startTimeOf(checked)})" = ${shellQuote(start)} ] && echo "${checked} running" || echo "${checked} gone"\n`;
  }).join('');
}

function checkedPid(pid: number): string {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new Error(`not a pid: ${pid}`);
  return String(pid);
}

/**
 * Ends a machine: its agent's process group, then every process that carries the
 * machine's marker (tasks that left the group); SIGTERM first, SIGKILL after the grace.
 * A drained agent is exiting by itself: it gets the grace to do so before any signal.
 * Processes are chosen by pid and marker only, never by name; one GNU grep reads every
 * process's environment, where a loop of tr per process would load a busy host.
 */
export function stopScript(workerId: string, workDir: string, pid: number, start: string, graceMs: number, drained: boolean): string {
  const worker = checkedWorker(workerId);
  const tenths = Math.max(0, Math.round(graceMs / 100));
  return `root=${remoteRoot(workDir)}
marker="${machineMarker}=$root/${worker}"
ours() {
  if [ "$(${startTimeOf(String(pid))})" = ${shellQuote(start)} ]; then echo -${pid}; fi
  for environ in $(grep -lxzF "$marker" /proc/[0-9]*/environ 2>/dev/null); do
    p=\${environ#/proc/}
    echo "\${p%/environ}"
  done
}
signal() { for p in $(ours); do kill -"$1" "$p" 2>/dev/null || true; done; }
waited=0
${drained ? `while [ -n "$(${startTimeOf(String(pid))})" ] && [ "$waited" -lt ${tenths} ]; do sleep 0.1; waited=$((waited + 1)); done` : ''}
signal TERM
waited=0
while [ -n "$(ours)" ] && [ "$waited" -lt ${tenths} ]; do sleep 0.1; waited=$((waited + 1)); done
signal KILL
${unmountUnder(`"$root/${worker}"`)}rm -rf "$root/${worker}"
`;
}

/** Prints `pid start worker` for every agent under the root and every process on the host that carries a marker of a machine there. */
export function inventoryScript(workDir: string): string {
  return `root=${remoteRoot(workDir)}
# An agent by the pid its launch wrote: its /proc files are closed to this user (the agent's sealOrReexec).
for file in "$root"/w-*/agent.pid; do
  [ -f "$file" ] || continue
  read -r p s < "$file" || continue
  case "$p" in '' | *[!0-9]*) continue ;; esac
  [ "$(${startTimeOf('$p')})" = "$s" ] || continue
  worker=\${file%/agent.pid}
  echo "$p $s \${worker##*/}"
done
# What its tasks left: one grep over every process finds the few that carry a marker here; each is then read exactly.
for environ in $(grep -lzF "${machineMarker}=$root/w-" /proc/[0-9]*/environ 2>/dev/null); do
  p=\${environ%/environ}
  value=$(tr '\\0' '\\n' 2>/dev/null < "$environ" | grep "^${machineMarker}=") || continue
  worker=\${value#"${machineMarker}=$root/"}
  [ "$worker" != "$value" ] || continue
  case "$worker" in w-*[!0-9a-z]* | w-) continue ;; w-*) ;; *) continue ;; esac
  echo "\${p#/proc/} $(${startTimeOf('${p#/proc/}')}) $worker"
done
`;
}

/**
 * Everything Slipway has on a host, in one session: inventoryScript's lines, then what it
 * keeps besides running agents, one line each: `runtime`, `dir WORKER`, `prepared`.
 */
export function surveyScript(workDir: string): string {
  return `${inventoryScript(workDir)}[ -d "$root/runtime" ] && echo runtime
for d in "$root"/w-*; do [ -d "$d" ] && echo "dir \${d##*/}"; done
[ -d "$root/prepared" ] && echo prepared
true
`;
}

export type HostFile = { kind: 'runtime' } | { kind: 'dir'; workerId: string } | { kind: 'prepared' };

/** Removes one of the things filesScript lists; the path is built here from its kind, never taken from the host. */
export function removeFileScript(workDir: string, file: HostFile): string {
  const path = file.kind === 'runtime' ? '"$root/runtime"' : file.kind === 'dir' ? `"$root/${checkedWorker(file.workerId)}"` : '"$root/prepared"';
  return `root=${remoteRoot(workDir)}\n${file.kind === 'dir' ? unmountUnder(path) : ''}rm -rf ${path}\n`;
}

/**
 * Unmounts, deepest first, what is mounted at the directory \`dir\` (a quoted sh word) or
 * below it: an agent running as root mounts its tasks' trees, and one that was killed
 * leaves them, which rm -rf cannot remove. One still in use is detached. The mount table
 * holds paths without links, as \`pwd -P\` gives them.
 */
function unmountUnder(dir: string): string {
  return `if [ -r /proc/self/mountinfo ] && d=$(cd ${dir} 2>/dev/null && pwd -P); then
  awk -v d="$d" '$5 == d || substr($5, 1, length(d) + 1) == d "/" { print length($5), $5 }' /proc/self/mountinfo | sort -rn |
    while read -r _ m; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
fi
`;
}
