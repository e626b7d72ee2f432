import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { expandTasks, SelectionError } from '../../src/pipeline/expand.ts';
import { parsePipeline } from '../../src/pipeline/load.ts';
import { Sandbox } from '../helpers/cli.ts';
import { startServer } from '../helpers/server-process.ts';
import { tarGz } from '../helpers/tar.ts';
import { Fixtures, yaml } from '../pipeline/fixtures.ts';

/**
 * What a pipeline file (or a manual selection) can make Slipway do with paths and
 * variables: script files stay inside the source tree without revealing what lies
 * outside it, and nothing becomes a variable the shell or the worker depends on.
 */

const fixtures = new Fixtures();
afterAll(() => fixtures.remove());

describe('script files', () => {
  /** A source tree with links of every kind, beside an `outside` folder with a real script. */
  function treeWithLinks(text: string): string {
    const dir = fixtures.tree(text, ['scripts/real.sh', 'sub/inner.sh']);
    const outside = join(dir, '..', `outside-${Date.now()}-${Math.random().toString(16).slice(2)}`);
    mkdirSync(outside);
    writeFileSync(join(outside, 'x.sh'), 'echo outside\n');
    symlinkSync(outside, join(dir, 'out'));
    symlinkSync(join(outside, 'x.sh'), join(dir, 'abs.sh'));
    symlinkSync('../outside-nothing/x.sh', join(dir, 'rel.sh'));
    symlinkSync('sub/../..', join(dir, 'esc'));
    symlinkSync('/', join(dir, 'root'));
    symlinkSync('loop.sh', join(dir, 'loop.sh'));
    symlinkSync('scripts/real.sh', join(dir, 'ok.sh'));
    symlinkSync('sub', join(dir, 'alias'));
    return dir;
  }

  it('refuses a path or link that leads out of the source tree, at its position', () => {
    const scripts = ['../x.sh', '/etc/profile.sh', 'out/x.sh', 'out/missing.sh', 'abs.sh', 'rel.sh', 'esc/outside/x.sh', 'root/etc/passwd.sh', 'root/nonexistent/x.sh'];
    const text = yaml('name: x', 'activities: {b: {}}', 'steps:', ...scripts.map((run, i) => `  s${i}: {run: ${run}}`));
    const dir = treeWithLinks(text);
    let message = '';
    try {
      parsePipeline(text, 'slipway.yml', dir);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message.split('\n')).toEqual([
      'slipway.yml:4:13: steps.s0.run: script path ../x.sh leads outside the source tree',
      'slipway.yml:5:13: steps.s1.run: script path /etc/profile.sh must be relative to the source tree (the directory holding the pipeline file)',
      'slipway.yml:6:13: steps.s2.run: script file out/x.sh is a link that leads outside the source tree',
      'slipway.yml:7:13: steps.s3.run: script file out/missing.sh is a link that leads outside the source tree',
      'slipway.yml:8:13: steps.s4.run: script file abs.sh is a link that leads outside the source tree',
      'slipway.yml:9:13: steps.s5.run: script file rel.sh is a link that leads outside the source tree',
      'slipway.yml:10:13: steps.s6.run: script file esc/outside/x.sh is a link that leads outside the source tree',
      'slipway.yml:11:13: steps.s7.run: script file root/etc/passwd.sh is a link that leads outside the source tree',
      'slipway.yml:12:13: steps.s8.run: script file root/nonexistent/x.sh is a link that leads outside the source tree',
    ]);
  });

  it('says the same about a link out of the tree whether or not its target exists', () => {
    // Otherwise an uploaded tree could probe the coordinator's disk through the messages.
    const text = (run: string) => yaml('name: x', 'activities: {b: {}}', `steps: {a: {run: ${run}}}`);
    const dir = treeWithLinks(text('out/x.sh'));
    const message = (run: string) => {
      try {
        parsePipeline(text(run), 'slipway.yml', dir);
        return 'accepted';
      } catch (error) {
        return (error as Error).message.replace(run, 'SCRIPT');
      }
    };
    expect(message('out/x.sh')).toBe(message('out/missing.sh'));
    expect(message('root/etc/hostname')).toBe(message('root/etc/no-such-file'));
    expect(message('root/etc')).toBe(message('root/no-such-dir/x.sh'));
  });

  it('accepts links that stay inside the tree', () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'steps: {a: {run: ok.sh}, b: {run: alias/inner.sh}, c: {run: scripts/real.sh}}');
    const dir = treeWithLinks(text);
    const pipeline = parsePipeline(text, 'slipway.yml', dir);
    expect(Object.values(pipeline.steps).map((s) => s.run)).toEqual([
      { kind: 'file', path: 'ok.sh' }, { kind: 'file', path: 'alias/inner.sh' }, { kind: 'file', path: 'scripts/real.sh' },
    ]);
  });

  it('treats a link loop as a missing file', () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'steps: {a: {run: loop.sh}}');
    const dir = treeWithLinks(text);
    expect(() => parsePipeline(text, 'slipway.yml', dir)).toThrow(/steps\.a\.run: script file loop\.sh not found in /);
  });
});

describe('variables', () => {
  it('refuses axes that would replace a variable the worker, bash or the loader relies on', () => {
    const axes = ['path', 'home', 'lang', 'tmpdir', 'bash_env', 'env', 'shellopts', 'ifs', 'ld_preload', 'ld-library-path', 'lc_all', 'slipway-worker'];
    const text = yaml('name: x', 'matrix:', ...axes.map((axis) => `  ${axis}: [a]`), 'activities: {b: {}}', 'steps: {a: {run: make}}');
    const lines = fixtures.mistakes(text);
    expect(lines).toHaveLength(axes.length);
    axes.forEach((axis, i) => {
      const variable = axis.toUpperCase().replaceAll('-', '_');
      expect(lines[i]).toMatch(new RegExp(`^slipway\\.yml:${i + 3}:3: matrix\\.${axis}: axis '${axis}' would set ${variable}, which `));
    });
    expect(lines[0]).toBe("slipway.yml:3:3: matrix.path: axis 'path' would set PATH, which the worker sets for every script; rename the axis (a step's env may set it on purpose)");
    expect(lines[8]).toBe("slipway.yml:11:3: matrix.ld_preload: axis 'ld_preload' would set LD_PRELOAD, which changes how bash and the programs it starts behave; rename the axis (a step's env may set it on purpose)");
  });

  it("lets a step's env set such variables by name, but not Slipway's own", () => {
    const text = yaml('name: x', 'activities: {b: {}}', 'steps:', '  a: {run: make, env: {PATH: /opt/bin, LANG: C, SLIPWAY_RUN: r-1, SLIPWAY_OTHER: x}}');
    expect(fixtures.mistakes(text)).toEqual([
      'slipway.yml:4:49: steps.a.env.SLIPWAY_RUN: SLIPWAY_ variables are set by Slipway itself',
      'slipway.yml:4:67: steps.a.env.SLIPWAY_OTHER: SLIPWAY_ variables are set by Slipway itself',
    ]);
    expect(fixtures.parse(yaml('name: x', 'activities: {b: {}}', 'steps: {a: {run: make, env: {PATH: /opt/bin}}}')).steps.a!.env).toEqual({ PATH: '/opt/bin' });
  });

  it('refuses NUL in anything that reaches a script, which no environment or argument can hold', () => {
    const text = yaml(
      'name: x',
      'matrix: {v: ["a\\0b"]}',
      'activities: {b: {}}',
      'steps:',
      '  a: {run: "make \\0", env: {X: "1\\02"}, over: [v]}',
    );
    expect(fixtures.mistakes(text)).toEqual([
      'slipway.yml:2:14: matrix.v[0]: a NUL character cannot be passed to a script, got "a\\u0000b"',
      'slipway.yml:5:12: steps.a.run: a NUL character cannot be passed to a script, got "make \\u0000"',
      'slipway.yml:5:32: steps.a.env.X: a NUL character cannot be passed to a script, got "1\\u00002"',
    ]);
    const pipeline = fixtures.parse(yaml('name: x', 'matrix: {v: [a]}', 'activities: {b: {}}', 'steps: {a: {run: make, over: [v]}}'));
    expect(() => expandTasks(pipeline, { set: { v: ['ok', 'x\0y'] } })).toThrow(SelectionError);
    expect(() => expandTasks(pipeline, { set: { v: ['ok', 'x\0y'] } })).toThrow("a value of axis 'v' holds a NUL character");
  });

  it('refuses values that would give two tasks one id', () => {
    const pipeline = fixtures.parse(yaml(
      'name: x', 'matrix: {a: ["1", "1,b=2"], b: ["2,b=3", "3"]}', 'activities: {w: {}}', 'steps: {s: {run: make, over: [a, b]}}',
    ));
    expect(() => expandTasks(pipeline)).toThrow('two tasks would have the id s[a=1,b=2,b=3]');
    // The same characters are fine when they cannot collide.
    const fine = fixtures.parse(yaml('name: x', 'matrix: {a: ["x=1,y", "2"]}', 'activities: {w: {}}', 'steps: {s: {run: make, over: [a]}}'));
    expect(expandTasks(fine).map((t) => t.key)).toEqual(['s[a=x=1,y]', 's[a=2]']);
  });
});


describe('axes named for what every JavaScript object has', () => {
  const reserved = "cannot name an axis: __proto__, constructor and prototype are reserved";
  const box = new Sandbox();
  afterAll(() => box.cleanup());
  const file = box.write({
    'slipway.yml': yaml('name: x', 'matrix: {v: ["1"]}', 'activities: {b: {}}', 'steps: {a: {run: make, over: [v]}}'),
  });

  it('are refused in --set, not ignored', async () => {
    for (const axis of ['__proto__', 'constructor', 'prototype']) {
      const result = await box.run(['run', file, '--set', `${axis}=1`, '--fake-workers']);
      expect(result).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toBe(`--set ${axis}=1: '${axis}' ${reserved}\n`);
    }
  });

  it("are refused in a submitted run's selection.set and .exclude, which JSON.parse keeps but zod would drop", async () => {
    const { server, url, admin } = await startServer(box);
    const headers = { authorization: `Bearer ${admin}` };
    try {
      const source = await fetch(`${url}/api/v1/sources`, { method: 'POST', body: tarGz([{ type: 'file', name: 'slipway.yml', data: readFileSync(file, 'utf8') }]), headers });
      const { digest } = await source.json() as { digest: string };
      const submit = (set: string, field = 'set') => fetch(`${url}/api/v1/runs`, { method: 'POST', body: `{"source":"${digest}","file":"slipway.yml","selection":{"${field}":${set}}}`, headers });
      const proto = await submit('{"__proto__":["1"],"v":["1"]}');
      expect(proto.status).toBe(400);
      expect(await proto.json()).toEqual({ error: "the body holds a key '__proto__', which Slipway refuses wherever it is" });
      for (const axis of ['constructor', 'prototype']) {
        const answer = await submit(`{"${axis}":["1"],"v":["1"]}`);
        expect(answer.status).toBe(400);
        expect(await answer.json()).toEqual({ error: `'${axis}' ${reserved}` });
      }
      // Other keys of the set reach the check of axes.
      expect(await (await submit('{"v":["1"],"version":["1"]}')).json()).toEqual({ error: "unknown axis 'version'; axes are: v" });
      expect(await (await submit('{"constructor":["1"]}', 'exclude')).json()).toEqual({ error: `exclude constructor=1: 'constructor' ${reserved}` });
    } finally {
      server.kill();
      await server.result;
    }
  });

  it('are refused as axes of a pipeline, at their position, so that every axis can be selected', () => {
    expect(fixtures.mistakes(yaml('name: x', 'matrix:', '  constructor: ["1"]', '  prototype: ["1"]', 'activities: {b: {}}', 'steps: {a: {run: make}}'))).toEqual([
      `slipway.yml:3:3: matrix.constructor: 'constructor' ${reserved}`,
      `slipway.yml:4:3: matrix.prototype: 'prototype' ${reserved}`,
    ]);
  });
});

/**
 * A one-line list of half a million values fits in the 1 MiB a pipeline file may have:
 * parsing it took seconds, and checking it overflowed the stack (a RangeError from zod,
 * a 500 from the server). It is refused before parsing, at the entry past the limit.
 */
describe('a list of half a million values', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());
  const text = `name: x\nmatrix: {a: [${Array(500_000).fill('1').join(',')}]}\nactivities: {b: {}}\nsteps: {s: {run: make, over: [a]}}\n`;
  const file = box.write({ 'slipway.yml': text });
  const limit = 'this list has more than 10,000 entries, the most one list or mapping may have';
  const position = `2:${'matrix: {a: ['.length + 1 + 2 * 10_000}`;

  it('is refused by slipway validate at once, naming the file, the position and the limit', async () => {
    expect(Buffer.byteLength(text)).toBeLessThan(1024 * 1024);
    const result = await box.run(['validate', file]);
    expect(result).toEqual({ code: 2, stdout: '', stderr: `${file}:${position}: ${limit}\n` });
  });

  it('is refused by a server with 422 and the same diagnostic, and the server goes on answering', async () => {
    const { server, url, admin } = await startServer(box);
    const headers = { authorization: `Bearer ${admin}` };
    try {
      const source = await fetch(`${url}/api/v1/sources`, { method: 'POST', body: tarGz([{ type: 'file', name: 'slipway.yml', data: text }]), headers });
      const { digest } = await source.json() as { digest: string };
      const submitted = await fetch(`${url}/api/v1/runs`, { method: 'POST', body: JSON.stringify({ source: digest, file: 'slipway.yml' }), headers });
      expect(submitted.status).toBe(422);
      const [line, column] = position.split(':').map(Number);
      expect(await submitted.json()).toEqual({
        error: `slipway.yml:${position}: ${limit}`,
        diagnostics: [{ file: 'slipway.yml', line, column, message: limit }],
      });
      expect((await fetch(`${url}/api/v1/runs`, { headers })).status).toBe(200);
    } finally {
      server.kill();
      await server.result;
    }
  });
});
