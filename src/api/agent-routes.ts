import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { Hono, type Context } from 'hono';
import type { AgentFiles, ServedFile } from './agent-files.ts';
import { powershellBootstrapScript } from './bootstrap-powershell.ts';
import { bootstrapScript, hostMachine } from './bootstrap-script.ts';
import { bearerToken, fail } from './errors.ts';
import type { RegistrationTokens } from './registration-tokens.ts';
import type { ServerTrust } from './worker-url.ts';

const refusals = {
  unknown: 'a starting worker\'s registration token is required: Authorization: Bearer TOKEN',
  spent: 'this registration token is spent: its worker is no longer starting',
  expired: 'this registration token expired: its worker did not register in time',
} as const;

/**
 * What a bare host downloads to become a worker: the bootstrap script (sh for Linux,
 * PowerShell for Windows), node and the agent.
 * Only a machine Slipway started holds a live registration token, so only it may download;
 * downloading does not use the token up, registering does.
 */
export function agentRoutes(files: AgentFiles, tokens: RegistrationTokens, trust?: ServerTrust): Hono {
  const app = new Hono();

  app.use('/*', async (c, next) => {
    const token = bearerToken(c);
    const verdict = token ? await tokens.check(token) : 'unknown';
    if (verdict !== 'valid') return fail(c, 401, refusals[verdict]);
    await next();
  });

  app.get('/bootstrap.sh', async (c) => {
    const machine = hostMachine();
    if (!machine) return noRuntime(c);
    const [node, agent] = await Promise.all([files.runtime(), files.agent()]);
    const script = bootstrapScript({ nodeSha256: node.sha256, agentSha256: agent.sha256, machine, trust });
    return c.body(script, 200, { 'content-type': 'text/x-shellscript; charset=utf-8' });
  });

  app.get('/bootstrap.ps1', async (c) => {
    const [agent, node] = await Promise.all([files.agent(), files.windowsRuntime()]);
    const script = powershellBootstrapScript({ agentSha256: agent.sha256, nodeSha256: node?.sha256, trust });
    return c.body(script, 200, { 'content-type': 'text/plain; charset=utf-8' });
  });

  app.get('/slipway-agent.mjs', async (c) => serve(c, await files.agent(), 'text/javascript'));

  app.get('/node', async (c) => {
    if (!hostMachine()) return noRuntime(c);
    return serve(c, await files.runtime(), 'application/octet-stream');
  });

  app.get('/node.exe', async (c) => {
    const node = await files.windowsRuntime();
    if (!node) return fail(c, 404, 'this coordinator serves no node.exe for Windows: set [providers.ec2] windows_node in its config, or use an image with Node on the PATH');
    return serve(c, node, 'application/octet-stream');
  });

  return app;
}

function serve(c: Context, file: ServedFile, type: string): Response {
  return c.body(Readable.toWeb(createReadStream(file.path)) as ReadableStream, 200, {
    'content-type': type,
    'content-length': String(file.size),
    'x-slipway-sha256': file.sha256,
  });
}

function noRuntime(c: Context): Response {
  return fail(c, 404, `this coordinator runs node for ${process.platform}-${process.arch}, which Linux hosts cannot run; start the agent by hand there`);
}
