/**
 * The agent program as providers start it. Its one secret, the one-time registration
 * token it trades for the worker's own credential, comes on stdin: never on a command line
 * (every user's `ps` shows those) nor in the environment (`/proc/<pid>/environ` keeps the
 * environment a process started with, whatever it deletes later, and a task's processes
 * could read it). The rest comes in the environment:
 *   SLIPWAY_SERVER              the coordinator's URL: https, or http only on this machine (loopback)
 *   SLIPWAY_SERVER_CERTIFICATE  optional, PEM: the coordinator's certificate, trusted alone (a pin)
 *   SLIPWAY_ALLOW_PLAIN_HTTP    optional, "1": an http:// coordinator on another machine is accepted ([server] plain_http_workers)
 *   SLIPWAY_WORK_DIR            where sources are cached and tasks run
 *   SLIPWAY_RECONNECT_MS        optional: how long to keep trying to reach a coordinator that went away
 *   SLIPWAY_PREPARED_DIR        optional: where this machine records the prepare scripts it ran
 *   SLIPWAY_CGROUP              optional: the cgroup the server places the agent in, given to its uid
 *   SLIPWAY_AGENT_USER          optional, "uid:gid": the user an agent started as root drops to first (see dropPrivileges)
 *   SLIPWAY_TASK_USER           optional, "uid:gid": the user an agent started as root drops to after the machine's prepare
 *                               and the worker's init, which run as root, and before its first task (an EC2 instance's)
 *   SLIPWAY_SEAL                optional, "1": node is this agent's own copy (the bootstrap's), to be kept unreadable and
 *                               run from so that tasks cannot read the agent (see sealOrReexec)
 */
import { Agent, ScriptExecutor } from './agent.ts';
import { dropPrivileges, ownerOf, takeUsersHome, type Owner } from './drop-privileges.ts';
import { sealOrReexec } from './sealed-from-tasks.ts';
import { isLoopbackUrl } from '../util/loopback.ts';

export async function main(env: NodeJS.ProcessEnv = process.env, stdin: AsyncIterable<Buffer> = process.stdin): Promise<number> {
  let taskUser: Owner | undefined;
  try {
    taskUser = taskUserOf(env);
    const agentUser = userIn(env, 'SLIPWAY_AGENT_USER');
    if (agentUser) dropPrivileges(agentUser);
  } catch (error) {
    process.stderr.write(`slipway agent: ${(error as Error).message}\n`);
    return 2;
  }
  if (env.SLIPWAY_SEAL === '1') sealOrReexec(() => process.execPath, say);
  const server = env.SLIPWAY_SERVER;
  const workDir = env.SLIPWAY_WORK_DIR;
  if (!server || !workDir) {
    process.stderr.write('slipway agent: SLIPWAY_SERVER and SLIPWAY_WORK_DIR must be set\n');
    return 2;
  }
  const refusal = plainHttpRefusal(server, env);
  if (refusal) {
    process.stderr.write(`slipway agent: ${refusal}\n`);
    return 2;
  }
  if (env.SLIPWAY_REGISTRATION_TOKEN !== undefined) {
    process.stderr.write('slipway agent: the registration token comes on stdin, never in the environment, where other processes can read it\n');
    return 2;
  }
  const token = await firstLine(stdin);
  if (!token) {
    process.stderr.write('slipway agent: the registration token must come on stdin (one line)\n');
    return 2;
  }
  const reconnectMs = env.SLIPWAY_RECONNECT_MS === undefined ? undefined : Number(env.SLIPWAY_RECONNECT_MS);
  const executor = await ScriptExecutor.open(workDir, { placedIn: env.SLIPWAY_CGROUP, say });
  const agent = new Agent({
    server, token, executor, reconnectMs, preparedDir: env.SLIPWAY_PREPARED_DIR,
    beforeTasks: taskUser && (async () => {
      await executor.handOver(taskUser);
      dropPrivileges(taskUser);
      takeUsersHome(process.env);
      return `tasks run as ${process.env.USER} (uid ${taskUser.uid}); prepare and init ran as root`;
    }),
    serverCertificate: env.SLIPWAY_SERVER_CERTIFICATE || undefined,
    say,
    onName: (name) => { process.title = `slipway-agent ${name}`; },
  });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => agent.stop());
  try {
    await agent.run();
    return 0;
  } catch (error) {
    process.stderr.write(`${new Date().toISOString()} agent failed: ${(error as Error).stack ?? error}\n`);
    return 1;
  }
}

/** The user an agent started as root becomes before its first task, if it is told one. */
function taskUserOf(env: NodeJS.ProcessEnv): Owner | undefined {
  const taskUser = userIn(env, 'SLIPWAY_TASK_USER');
  if (!taskUser) return undefined;
  if (env.SLIPWAY_AGENT_USER !== undefined) throw new Error('SLIPWAY_AGENT_USER and SLIPWAY_TASK_USER are two ways to leave root: set one');
  if (process.geteuid?.() !== 0) throw new Error('SLIPWAY_TASK_USER is for an agent started as root, which hands its tasks to that user');
  return taskUser;
}

function userIn(env: NodeJS.ProcessEnv, variable: 'SLIPWAY_AGENT_USER' | 'SLIPWAY_TASK_USER'): Owner | undefined {
  const given = env[variable];
  if (given === undefined) return undefined;
  try {
    return ownerOf(given);
  } catch (error) {
    throw new Error(`${variable} ${(error as Error).message}`);
  }
}

function say(line: string): void {
  process.stderr.write(`${new Date().toISOString()} ${line}\n`);
}

/** Why the agent will not talk to `server`: its token would cross the network in clear. */
function plainHttpRefusal(server: string, env: NodeJS.ProcessEnv): string | undefined {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return `SLIPWAY_SERVER is not a URL: ${JSON.stringify(server.slice(0, 100))}`;
  }
  if (url.protocol === 'https:' || env.SLIPWAY_ALLOW_PLAIN_HTTP === '1' || (url.protocol === 'http:' && isLoopbackUrl(server))) return undefined;
  if (url.protocol !== 'http:') return `SLIPWAY_SERVER must be an http(s):// URL, not ${url.protocol}`;
  return `refusing plain HTTP to a coordinator on another machine (${url.origin}): the worker's tokens and secrets would cross the network in clear. Use its https:// URL, or set SLIPWAY_ALLOW_PLAIN_HTTP=1 ([server] plain_http_workers = true) to allow it`;
}

/** The first line of `input`, read to its end so its writer never blocks. */
async function firstLine(input: AsyncIterable<Buffer>): Promise<string> {
  let text = '';
  for await (const chunk of input) if (text.length < 4096) text += chunk.toString();
  return text.split('\n')[0]!.trim();
}

process.exitCode = await main();
