import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const entry = fileURLToPath(new URL('./coordinator-process.ts', import.meta.url));

/** A coordinator process under test: started, SIGKILLed and started again on the same port and store. */
export class CoordinatorHandle {
  readonly #args: string[];
  readonly #env: NodeJS.ProcessEnv;
  readonly #log: WriteStream;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  /** Starts the provider refused, over every life of the process. */
  startFailures = 0;
  url = '';

  constructor(args: { stateDir: string; port: number; seed: number; startFailureRate: number; heartbeatTimeoutMs: number; logPath: string; store?: string }) {
    this.#args = [args.stateDir, String(args.port), String(args.seed), String(args.startFailureRate), String(args.heartbeatTimeoutMs)];
    // In its environment, as `slipway server` takes it: a URL may hold a password.
    this.#env = args.store ? { ...process.env, SLIPWAY_DATABASE_URL: args.store } : withoutStore(process.env);
    this.#log = createWriteStream(args.logPath, { flags: 'a' });
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async start(): Promise<void> {
    const child = spawn(process.execPath, [entry, ...this.#args], { stdio: ['ignore', 'pipe', 'pipe'], env: this.#env });
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => { if (this.#child === child) this.#child = undefined; resolve(); }));
    child.stderr!.pipe(this.#log, { end: false });
    await new Promise<void>((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let end;
        while ((end = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (line.startsWith('listening ')) {
            this.url = line.slice('listening '.length);
            resolve();
          } else if (line.startsWith('fault start-failure ')) {
            this.startFailures++;
          }
        }
      });
      child.once('exit', (code, signal) => reject(new Error(`the coordinator exited before listening (${signal ?? `code ${code}`}); see its log`)));
    });
  }

  async kill(): Promise<void> {
    this.#child?.kill('SIGKILL');
    await this.#exited;
  }

  async stop(): Promise<void> {
    this.#child?.kill('SIGTERM');
    await this.#exited;
    this.#log.end();
  }
}

function withoutStore(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { SLIPWAY_DATABASE_URL: _ignored, ...rest } = env;
  return rest;
}
