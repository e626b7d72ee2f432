/**
 * Scripts started by a spawner: a small Python process the agent starts once, which starts
 * each script with posix_spawn (a vfork: nothing of its memory is copied). The agent
 * forking itself copies its page tables, and every page it (or its garbage collector)
 * writes afterwards faults once: with eight agents on two cores, more than the script
 * `true` costs. The agent never blocks while a child gets to exec, either. Where Python 3
 * cannot run, the agent forks itself (DirectLauncher) and says so.
 *
 * The spawner runs as the agent's uid, which is also its scripts': it makes itself not
 * dumpable first (prctl), so a script can neither trace it nor read its memory, through
 * which the next scripts' environments (their secrets) pass.
 *
 * Requests (agent -> spawner, stdin): a decimal byte count and a newline, then that many
 * bytes: fields joined by NUL, which no argument, variable or path can hold.
 *   run <id> <cwd> <argc> <argv...> <NAME=value...>
 *   forget <id>                      read no more of the script's output
 * Reports (spawner -> agent, stdout), a line each:
 *   ready
 *   started <id> <pid>
 *   failed <id> <why>                (not started: no such directory, no bash)
 *   output <id> <n>                  followed by n bytes of the script's output
 *   closed <id>                      its output pipe closed
 *   exited <id> <code> <signal>      "-" for the one that does not apply
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { constants } from 'node:os';
import { prelude } from './run-script.ts';
import { DirectLauncher, type LaunchedScript, type LaunchRequest, type ScriptLauncher } from './script-launcher.ts';

/** How long a closed spawner may take to end before it is killed. */
const CLOSE_WAIT_MS = 2000;

/** The system's Python first: a python3 earlier in PATH may be a version manager's shim, slow to start. */
const SYSTEM_PYTHON = '/usr/bin/python3';

const SPAWNER = String.raw`
import ctypes, os, selectors, shutil, signal, sys

libc = ctypes.CDLL(None, use_errno=True)
# PR_SET_NAME (15): what ps and /proc/<pid>/comm show. PR_SET_DUMPABLE (4), 0: closed to its scripts.
libc.prctl(15, b'slipway-spawner', 0, 0, 0)
if libc.prctl(4, 0, 0, 0, 0) != 0:
    sys.exit('slipway-spawner: prctl: ' + os.strerror(ctypes.get_errno()))

# It ends when the agent closes its stdin, not with a terminal's signals to the agent's group;
# its scripts get every signal's default back, and an empty mask.
held = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT]
for number in held:
    signal.signal(number, signal.SIG_IGN)
defaults = held + [signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ]
wake_r, wake_w = os.pipe()
os.set_blocking(wake_r, False)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda number, frame: None)

selector = selectors.DefaultSelector()
selector.register(0, selectors.EVENT_READ, 'requests')
selector.register(wake_r, selectors.EVENT_READ, 'wake')
id_of_pid = {}
output_of = {}
requests = b''

def report(data):
    while data:
        data = data[os.write(1, data):]

def start(id, cwd, argc, *rest):
    argc = int(argc)
    argv, pairs = rest[:argc], rest[argc:]
    env = dict(pair.split('=', 1) for pair in pairs)
    program = shutil.which(argv[0], path=env.get('PATH', os.defpath))
    if program is None:
        return report(('failed %s %s: not found in PATH\n' % (id, argv[0])).encode())
    out_r, out_w = os.pipe()
    try:
        # Its scripts inherit the directory: the spawner goes back to / at once.
        os.chdir(cwd)
        pid = os.posix_spawn(program, argv, env, setsid=True, setsigdef=defaults, setsigmask=(), file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, '/dev/null', os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, out_w, 1),
            (os.POSIX_SPAWN_OPEN, 2, '/dev/null', os.O_WRONLY, 0),
        ])
    except OSError as error:
        os.close(out_r)
        return report(('failed %s %s: %s\n' % (id, error.filename or program, error.strerror)).encode())
    except Exception as error:
        # A name posix_spawn refuses (an empty one, one with "="): this script fails, not the spawner.
        os.close(out_r)
        return report(('failed %s %s\n' % (id, str(error).replace('\n', ' '))).encode())
    finally:
        os.close(out_w)
        os.chdir('/')
    id_of_pid[pid] = id
    output_of[id] = out_r
    selector.register(out_r, selectors.EVENT_READ, id)
    report(('started %s %d\n' % (id, pid)).encode())

def forget(id):
    fd = output_of.pop(id, None)
    if fd is not None:
        selector.unregister(fd)
        os.close(fd)

def reap():
    while id_of_pid:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        id = id_of_pid.pop(pid, None)
        if id is None:
            continue
        if os.WIFSIGNALED(status):
            report(('exited %s - %d\n' % (id, os.WTERMSIG(status))).encode())
        else:
            report(('exited %s %d -\n' % (id, os.WEXITSTATUS(status))).encode())

report(b'ready\n')
while True:
    for key, _ in selector.select():
        if key.data == 'wake':
            try:
                os.read(wake_r, 4096)
            except BlockingIOError:
                pass
        elif key.data == 'requests':
            got = os.read(0, 65536)
            if not got:
                sys.exit(0)
            requests += got
            while b'\n' in requests:
                size, _, rest = requests.partition(b'\n')
                if len(rest) < int(size):
                    break
                body, requests = rest[:int(size)], rest[int(size):]
                kind, *fields = body.decode('utf-8', 'surrogateescape').split('\0')
                if kind == 'run':
                    start(*fields)
                elif kind == 'forget':
                    forget(fields[0])
        elif key.data in output_of:
            got = os.read(key.fd, 65536)
            if got:
                report(('output %s %d\n' % (key.data, len(got))).encode() + got)
            else:
                forget(key.data)
                report(('closed %s\n' % key.data).encode())
    reap()
`;

interface Running {
  onOutput: (bytes: Buffer) => void;
  exited: (end: { code: number | null; signal: NodeJS.Signals | null; lost?: string }) => void;
  closed: () => void;
}

interface Starting {
  started: (pid: number) => void;
  failed: (why: Error) => void;
}

const signalNames = new Map(Object.entries(constants.signals).map(([name, number]) => [number, name as NodeJS.Signals]));

export class Spawner implements ScriptLauncher {
  readonly #process: ChildProcess;
  readonly #starting = new Map<number, Starting>();
  readonly #running = new Map<number, Running>();
  #nextId = 1;
  #unread: Buffer = Buffer.alloc(0);
  #onReady: () => void = () => undefined;
  #onLost: () => void = () => undefined;
  /** Why the spawner is gone, once it is. */
  #gone: string | undefined;

  private constructor(child: ChildProcess) {
    this.#process = child;
  }

  /** A spawner ready for scripts, or why there is none. `prelude` becomes each script's descriptor 3. */
  static async start(prelude: number): Promise<Spawner | { unavailable: string }> {
    // Isolated (-I): no PYTHON* variable nor user site directory changes what it runs.
    const child = spawn(existsSync(SYSTEM_PYTHON) ? SYSTEM_PYTHON : 'python3', ['-I', '-X', 'utf8', '-c', SPAWNER], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      stdio: ['pipe', 'pipe', 'inherit', prelude],
    });
    child.stdin!.on('error', () => undefined);
    const spawner = new Spawner(child);
    child.stdout!.on('data', (bytes: Buffer) => spawner.#read(bytes));
    child.on('error', (error) => spawner.#lose(`the script spawner cannot run: ${error.message}`));
    child.once('exit', (code, signal) => spawner.#lose(`the script spawner ended (${signal ?? `exit code ${code}`})`));
    const ready = await new Promise<boolean>((resolve) => {
      spawner.#onReady = () => resolve(true);
      spawner.#onLost = () => resolve(false);
    });
    if (ready) return spawner;
    child.kill('SIGKILL');
    return { unavailable: spawner.#gone! };
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  get gone(): string | undefined {
    return this.#gone;
  }

  async launch(request: LaunchRequest, onOutput: (bytes: Buffer) => void): Promise<LaunchedScript> {
    if (this.#gone) throw new Error(this.#gone);
    const id = this.#nextId++;
    const fields = ['run', String(id), request.cwd, String(request.argv.length), ...request.argv,
      ...Object.entries(request.env).map(([name, value]) => `${name}=${value}`)];
    if (fields.some((field) => field.includes('\0'))) throw new Error('an argument, a variable or the directory holds a NUL byte');
    let exited!: Running['exited'];
    let closed!: Running['closed'];
    const ended = new Promise<Parameters<Running['exited']>[0]>((resolve) => { exited = resolve; });
    const outputClosed = new Promise<void>((resolve) => { closed = resolve; });
    // Forgotten once both its end and its output's are known, in whichever order they come.
    const known = { exited: false, closed: false };
    const settled = (what: keyof typeof known): void => {
      known[what] = true;
      if (known.exited && known.closed) this.#running.delete(id);
    };
    this.#running.set(id, {
      onOutput,
      exited: (end) => { exited(end); settled('exited'); },
      closed: () => { closed(); settled('closed'); },
    });
    const pid = await new Promise<number>((started, failed) => {
      this.#starting.set(id, { started, failed });
      this.#send(fields);
    }).catch((error: Error) => {
      this.#running.delete(id);
      throw error;
    });
    return {
      pid,
      exited: ended,
      outputClosed,
      stopReading: () => {
        const running = this.#running.get(id);
        if (!running || this.#gone) return;
        this.#send(['forget', String(id)]);
        running.closed();
      },
    };
  }

  /**
   * Ends the spawner, and resolves once it is gone (it leaves the agent's cgroup, which can
   * then be removed). The scripts it started are the agent's to end: they lead sessions of their own.
   */
  async close(): Promise<void> {
    this.#lose('the script spawner was closed');
    const child = this.#process;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.stdin!.end();
    // It ends when its stdin does; one stuck in a write to a full pipe gets no second ask.
    const timer = setTimeout(() => child.kill('SIGKILL'), CLOSE_WAIT_MS);
    await exited;
    clearTimeout(timer);
  }

  #send(fields: string[]): void {
    const body = Buffer.from(fields.join('\0'));
    this.#process.stdin!.write(Buffer.concat([Buffer.from(`${body.length}\n`), body]));
  }

  #read(bytes: Buffer): void {
    this.#unread = this.#unread.length === 0 ? bytes : Buffer.concat([this.#unread, bytes]);
    for (;;) {
      const newline = this.#unread.indexOf(10);
      if (newline < 0) return;
      const [kind, id, ...rest] = this.#unread.toString('latin1', 0, newline).split(' ');
      if (kind === 'output') {
        const size = Number(rest[0]);
        if (this.#unread.length < newline + 1 + size) return;
        const output = this.#unread.subarray(newline + 1, newline + 1 + size);
        this.#unread = this.#unread.subarray(newline + 1 + size);
        this.#running.get(Number(id))?.onOutput(output);
        continue;
      }
      const line = this.#unread.toString('utf8', 0, newline);
      this.#unread = this.#unread.subarray(newline + 1);
      this.#report(kind!, Number(id), rest, line);
    }
  }

  #report(kind: string, id: number, rest: string[], line: string): void {
    if (kind === 'ready') return this.#onReady();
    if (kind === 'started') {
      this.#starting.get(id)?.started(Number(rest[0]));
      this.#starting.delete(id);
    } else if (kind === 'failed') {
      this.#starting.get(id)?.failed(new Error(line.slice(`failed ${id} `.length)));
      this.#starting.delete(id);
    } else if (kind === 'closed') {
      this.#running.get(id)?.closed();
    } else if (kind === 'exited') {
      const [code, signal] = rest;
      this.#running.get(id)?.exited({ code: code === '-' ? null : Number(code), signal: signal === '-' ? null : signalNames.get(Number(signal)) ?? null });
    }
  }

  #lose(why: string): void {
    if (this.#gone) return;
    this.#gone = why;
    this.#onLost();
    for (const starting of this.#starting.values()) starting.failed(new Error(why));
    this.#starting.clear();
    for (const running of this.#running.values()) {
      running.exited({ code: null, signal: null, lost: why });
      running.closed();
    }
    this.#running.clear();
  }
}

/**
 * What scripts start through: the spawner where it can run, else the agent's own fork,
 * which also takes over if the spawner dies. `say` tells the agent's log when it does.
 */
export class ScriptStarter implements ScriptLauncher {
  readonly #prelude: number;
  readonly #say: (line: string) => void;
  readonly #direct: DirectLauncher;
  #spawner: Spawner | undefined;
  #starting: Promise<Spawner | undefined> | undefined;
  #fallback: string | undefined;

  private constructor(prelude: number, say: (line: string) => void) {
    this.#prelude = prelude;
    this.#say = say;
    this.#direct = new DirectLauncher(prelude);
  }

  /**
   * Starts the spawner now; `note` says which way scripts start, for the worker's log. The
   * scripts' prelude is made in `workDir`, the worker's own directory.
   */
  static async open(workDir: string, say: (line: string) => void): Promise<{ starter: ScriptStarter; note: string }> {
    mkdirSync(workDir, { recursive: true, mode: 0o700 });
    const starter = new ScriptStarter(prelude(workDir), say);
    const spawner = await starter.#current();
    return {
      starter,
      note: spawner
        ? `scripts are started by a spawner process (python3, pid ${spawner.pid})`
        : `scripts are started by the agent's own fork, as the spawner cannot run: ${starter.#fallback}`,
    };
  }

  async launch(request: LaunchRequest, onOutput: (bytes: Buffer) => void): Promise<LaunchedScript> {
    const spawner = await this.#current();
    return (spawner ?? this.#direct).launch(request, onOutput);
  }

  /**
   * Ends the spawner: the next script starts a new one, as the agent's uid then (the agent
   * started as root hands its tasks to their user, and its spawner must follow).
   */
  async restart(): Promise<void> {
    const spawner = this.#spawner;
    this.#spawner = undefined;
    this.#starting = undefined;
    await spawner?.close();
  }

  async close(): Promise<void> {
    await this.restart();
  }

  async #current(): Promise<Spawner | undefined> {
    if (this.#fallback !== undefined) return undefined;
    this.#starting ??= Spawner.start(this.#prelude).then((started) => {
      if (started instanceof Spawner) return started;
      this.#fallback = started.unavailable;
      return undefined;
    });
    const spawner = await this.#starting;
    if (spawner && spawner.gone !== undefined) {
      this.#fallback = spawner.gone;
      this.#say(`scripts are started by the agent's own fork from now on: ${spawner.gone}`);
      return undefined;
    }
    this.#spawner = spawner;
    return spawner;
  }
}
