/**
 * The agent program as providers start it: everything it needs comes in the environment,
 * so no secret appears on a command line (visible to every user in `ps`).
 *   SLIPWAY_SERVER              the coordinator's URL
 *   SLIPWAY_REGISTRATION_TOKEN  one-time token, traded for the worker's own credential
 *   SLIPWAY_WORK_DIR            where sources are cached and tasks run
 *   SLIPWAY_RECONNECT_MS        optional: how long to keep trying to reach a coordinator that went away
 *   SLIPWAY_PREPARED_DIR        optional: where this machine records the prepare scripts it ran
 */
import { Agent, ScriptExecutor } from './agent.ts';

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const server = env.SLIPWAY_SERVER;
  const token = env.SLIPWAY_REGISTRATION_TOKEN;
  const workDir = env.SLIPWAY_WORK_DIR;
  if (!server || !token || !workDir) {
    process.stderr.write('slipway agent: SLIPWAY_SERVER, SLIPWAY_REGISTRATION_TOKEN and SLIPWAY_WORK_DIR must be set\n');
    return 2;
  }
  delete process.env.SLIPWAY_REGISTRATION_TOKEN;
  const reconnectMs = env.SLIPWAY_RECONNECT_MS === undefined ? undefined : Number(env.SLIPWAY_RECONNECT_MS);
  const agent = new Agent({
    server, token, executor: new ScriptExecutor(workDir), reconnectMs, preparedDir: env.SLIPWAY_PREPARED_DIR,
    say: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
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

process.exitCode = await main();
