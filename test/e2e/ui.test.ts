import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot, Sandbox } from '../helpers/cli.ts';
import { launchBrowser, observe, openUi, type UiTab } from '../helpers/browser.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { formatMillis } from '../../src/web/lib/format.ts';

interface ApiTask { id: string; status: string; attempts: { number: number; outcome: string | null; script_ms: number | null }[] }
interface ApiRun { run: { id: string; status: string }; tasks: ApiTask[] }
/** The page's globals this file uses (the root tsconfig has no DOM types). */
interface BrowserGlobals { getComputedStyle(element: unknown): { color: string } }
interface QueryRoot { querySelector(selector: string): { textContent: string | null } | null }

/**
 * The web UI against a real server running real pipelines: one server and one browser for
 * the file, each test its own pipeline in its own source subdirectory.
 */
describe('web UI', { timeout: 60_000 }, () => {
  const box = new Sandbox();
  let server: ReturnType<Sandbox['spawn']>;
  let browser: Browser;
  let url = '';
  let admin = '';
  const tabs: UiTab[] = [];

  beforeAll(async () => {
    // Local workers at $36 an hour (a minute's minimum: $0.60 once started), so runs have a cost and a budget can be spent.
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), '[providers.local]\nhourly_usd = 36\n');
    server = box.spawn(['server', '--listen', '127.0.0.1:0']);
    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    // The browser starts while the server does: two cores, two slow starts.
    const launching = launchBrowser();
    let exited = false;
    void server.result.then(() => { exited = true; });
    const ready = () => /listening on (\S+)/.test(stdout) && /admin token/.test(stdout);
    try {
      await waitFor(() => exited || ready(), 20_000, 'the server to listen');
      if (!ready()) throw new Error(`the server did not start:\n${(await server.result).stderr}`);
    } finally {
      browser = await launching;
    }
    url = stdout.match(/listening on (\S+)/)![1]!;
    admin = readFileSync(join(box.state, 'slipway', 'admin.token'), 'utf8').trim();
  });

  afterAll(async () => {
    await browser?.close();
    server?.kill('SIGTERM');
    await server?.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process of the server to end').catch(() => {});
    const left = processesUnder(box.dir.path);
    box.cleanup();
    expect(left).toEqual([]);
  });

  /** Opens a page of the UI; the tab is closed after the test. */
  async function open(path: string, token = admin): Promise<Page> {
    const tab = await openUi(browser, url, path, token);
    tabs.push(tab);
    return tab.page;
  }

  // The tabs a test opened close after it, and fail it if any of them threw.
  afterEach(async () => {
    const errors = tabs.flatMap((t) => t.errors);
    await Promise.all(tabs.splice(0).map((t) => t.close()));
    expect(errors).toEqual([]);
  });

  const api = async <T>(path: string, init: RequestInit = {}, token = admin): Promise<T> => {
    const response = await fetch(`${url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...init.headers } });
    if (!response.ok) throw new Error(`${init.method ?? 'GET'} ${path}: ${response.status} ${await response.text()}`);
    return await response.json() as T;
  };
  const runDetail = (run: string) => api<ApiRun>(`/api/v1/runs/${run}`);

  /**
   * Writes a pipeline into its own subdirectory of the source tree and submits it as
   * `slipway run --server` does: the tree goes up as one archive, then the run is created.
   */
  async function submit(dir: string, files: Record<string, string>, origin?: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<string> {
    box.write(Object.fromEntries(Object.entries(files).map(([name, text]) => [`${dir}/${name}`, text])));
    const archive = join(box.dir.path, `${dir}.tar.gz`);
    execFileSync('tar', ['--create', '--gzip', '--file', archive, '--directory', join(box.source, dir), '.']);
    const { digest } = await api<{ digest: string }>('/api/v1/sources', { method: 'POST', body: readFileSync(archive) });
    const { run } = await api<{ run: { id: string } }>('/api/v1/runs', {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ source: digest, file: 'slipway.yml', label: `${dir}/slipway.yml`, ...(origin && { origin }), ...extra }),
    });
    return run.id;
  }

  const runStatus = async (run: string) => (await runDetail(run)).run.status;
  const waitForStatus = (run: string, status: string, timeoutMs = 30_000) =>
    expect.poll(() => runStatus(run), { timeout: timeoutMs, interval: 200 }).toBe(status);
  const sleeping = (what: string) => processesUnder(box.dir.path).filter((p) => p.cmdline.includes(what));

  // The run page's pieces, found by role and visible text where they have them.
  const runBadge = (page: Page) => page.locator('.runhead-top .badge');
  const cancelButton = (page: Page) => page.getByRole('button', { name: 'Cancel run' });
  const rerunButton = (page: Page) => page.getByRole('button', { name: 'Rerun failed' });
  const cell = (page: Page, task: string) => page.locator('.mgrid').getByRole('button', { name: new RegExp(`^${escapeRegExp(task)}: `) });
  const taskPanel = (page: Page) => page.getByRole('complementary', { name: /^Task / });
  /** The run page has loaded its run and knows whose token it holds (actions depend on it). */
  const loaded = async (page: Page, who: string) => {
    await page.locator('.mgrid').waitFor();
    await page.locator('.topbar .who', { hasText: who }).waitFor();
  };

  it('shows where a run came from, and lists the runs of a branch or revision', async () => {
    const pipeline = { 'slipway.yml': 'name: ui-revisions\nactivities:\n  builder: {}\nsteps:\n  build: { activity: builder, run: "true" }\n' };
    const git = { vcs: 'git', repository: '/src/app', base: null, author: 'Ann Smith <ann@example.com>', try: false };
    const onMain = await submit('revisions', pipeline, { ...git, revision: 'a'.repeat(40), branch: 'main', message: 'Fix the parser\n\nIt read past the end.' });
    const onFeature = await submit('revisions', pipeline, { ...git, revision: 'b'.repeat(40), branch: 'feature/x', message: 'Try a new lexer' });

    const page = await open(`/runs/${onMain}`);
    await loaded(page, 'admin');
    const source = page.locator('.runhead-meta .run-source');
    for (const text of ['aaaaaaaaaaaa', 'main', 'Ann Smith', 'Fix the parser']) await expect.poll(() => source.textContent()).toContain(text);

    const list = await open('/');
    const row = (run: string) => list.getByRole('row', { name: new RegExp(run) });
    await row(onFeature).waitFor();
    await row(onMain).waitFor();
    await row(onFeature).getByRole('link', { name: 'feature/x' }).click();
    await list.waitForURL(/\?branch=feature%2Fx$/);
    await expect.poll(() => list.locator('table.runs tbody tr').count()).toBe(1);
    expect(await row(onFeature).textContent()).toContain('Try a new lexer');
    await list.locator('.chips .chip', { hasText: 'feature/x' }).click();
    await row(onMain).waitFor();
    await row(onMain).getByRole('link', { name: 'aaaaaaaaaaaa' }).click();
    await list.waitForURL(new RegExp(`\\?revision=${'a'.repeat(40)}$`));
    await expect.poll(() => list.locator('table.runs tbody tr').count()).toBe(1);
    expect(await row(onMain).textContent()).toContain('Ann Smith');
  });

  it('turns the cells of a running matrix green one by one', async () => {
    const run = await submit('matrix', {
      'slipway.yml': `
name: ui-matrix
matrix:
  n: ["1", "2", "3", "4"]
activities:
  builder: { max_workers: 1 }
steps:
  work:
    over: [n]
    run: |
      echo "working on $N"
      sleep 1.2
`,
    });
    const page = await open(`/runs/${run}`);
    await loaded(page, 'admin');
    expect(await runBadge(page).textContent()).toContain('running');
    expect(await page.locator('.mgrid .cell').count()).toBe(4);

    const succeeded = () => page.locator('.mgrid .cell.s-succeeded').count();
    const seen = await observe(succeeded, (n) => n === 4, { timeoutMs: 40_000, what: 'every cell to turn green' });
    // The page was open before the first task finished, and followed the run from there.
    expect(seen[0]).toBeLessThan(4);
    expect(seen.filter((n) => n < 4).length).toBeGreaterThanOrEqual(2);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));

    for (const n of ['1', '2', '3', '4']) expect(await cell(page, `work[n=${n}]`).getAttribute('class')).toContain('s-succeeded');
    await expect.poll(() => runBadge(page).textContent(), { timeout: 10_000 }).toContain('succeeded');
    expect(await runStatus(run)).toBe('succeeded');
  });

  it('streams a task\'s log as it prints, with its ANSI colours', async () => {
    const run = await submit('log', {
      'slipway.yml': `
name: ui-log
activities:
  builder: { max_workers: 1 }
steps:
  talk:
    run: |
      printf '\\033[31mred\\033[0m\\n'
      for i in $(seq 1 16); do echo "line $i of 16"; sleep 0.3; done
      echo "the last line"
`,
    });
    const page = await open(`/runs/${run}`);
    await loaded(page, 'admin');
    const talk = cell(page, 'talk');
    await expect.poll(() => talk.getAttribute('aria-label'), { timeout: 30_000 }).toBe('talk: running');
    await talk.click();
    const panel = taskPanel(page);
    await panel.waitFor();
    const log = panel.getByRole('log');
    // The count and the state in one read: read apart, the last lines could land between.
    const lineCount = () => panel.locator('.attempt-log').evaluate((el) => {
      const root = el as unknown as QueryRoot;
      const text = (selector: string) => root.querySelector(selector)?.textContent ?? '';
      return { lines: Number(text('.logbar .muted').replace(/[^0-9]/g, '')), state: text('.logstate') };
    });
    const seen = await observe(lineCount, (s) => s.state === 'complete', { timeoutMs: 30_000, what: 'the log to complete' });
    const whileStreaming = new Set(seen.filter((s) => s.state === 'streaming').map((s) => s.lines));
    expect(whileStreaming.size, JSON.stringify(seen)).toBeGreaterThanOrEqual(2);
    expect(seen.map((s) => s.lines)).toEqual(seen.map((s) => s.lines).sort((a, b) => a - b));
    expect(seen.at(-1)!.lines).toBe(18);

    const text = (await log.locator('.lt').allTextContents()).join('\n');
    expect(text).toContain('the last line');
    expect(text).toContain('line 16 of 16');
    // The escape codes became a red element, not text.
    expect(text).not.toMatch(/\x1b|\[31m|\[0m/);
    const red = log.locator('.lt .af1');
    expect(await red.count()).toBe(1);
    expect(await red.textContent()).toBe('red');
    const color = (locator: Locator) => locator.evaluate((el) => (globalThis as unknown as BrowserGlobals).getComputedStyle(el).color);
    expect(await color(red)).not.toBe(await color(log.locator('.lt').nth(1)));
    await waitForStatus(run, 'succeeded');
  });

  it('lists the files a task kept on its panel, and downloads one with the token', async () => {
    const run = await submit('artifacts', {
      'slipway.yml': `
name: ui-artifacts
activities:
  builder: { max_workers: 1 }
steps:
  pack:
    run: mkdir -p dist && printf 'the package' > dist/app-1.0.tar && printf 'notes' > dist/NOTES.txt
    artifacts: [dist/*]
`,
    });
    await waitForStatus(run, 'succeeded');
    const page = await open(`/runs/${run}?task=pack`);
    const artifacts = taskPanel(page).getByLabel('Artifacts');
    await expect.poll(() => artifacts.getByRole('button').allTextContents(), { timeout: 15_000 }).toEqual(['dist/NOTES.txt 5 B', 'dist/app-1.0.tar 11 B']);
    const [download] = await Promise.all([page.waitForEvent('download'), artifacts.getByRole('button', { name: /app-1\.0\.tar/ }).click()]);
    expect(download.suggestedFilename()).toBe('app-1.0.tar');
    expect(readFileSync(await download.path(), 'utf8')).toBe('the package');
  });

  it("says on the run's page that its budget is spent, and what it cost of it", async () => {
    const run = await submit('budget', {
      'slipway.yml': 'name: ui-budget\nmatrix: { n: ["1", "2", "3"] }\nactivities:\n  builder: { max_workers: 1 }\nsteps:\n  work: { over: [n], activity: builder, run: sleep 2 }\n',
    }, undefined, { budget_usd: 0.5 });
    await waitForStatus(run, 'failed');
    const page = await open(`/runs/${run}`);
    await loaded(page, 'admin');
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Capped' }).textContent())
      .toMatch(/^Capped: the run's budget of \$0\.50 is spent \(\$0\.\d\d on machines so far\): no new task starts; running ones finish$/);
    await expect.poll(() => page.locator('.runhead-meta').textContent()).toMatch(/cost \$0\.\d\d of \$0\.50/);
  });

  it('cancels a run from its page, which kills its processes', async () => {
    const run = await submit('cancel', {
      'slipway.yml': 'name: ui-cancel\nactivities:\n  builder: { max_workers: 1 }\nsteps:\n  wait: { run: sleep 300 }\n',
    });
    const page = await open(`/runs/${run}`);
    await loaded(page, 'admin');
    await expect.poll(() => cell(page, 'wait').getAttribute('aria-label'), { timeout: 30_000 }).toBe('wait: running');
    await waitFor(() => sleeping('sleep 300').length > 0, 10_000, 'the task\'s sleep to start');

    page.once('dialog', (dialog) => void dialog.accept());
    await cancelButton(page).click();
    await expect.poll(() => runBadge(page).textContent(), { timeout: 15_000 }).toContain('cancelled');
    await expect.poll(() => cell(page, 'wait').getAttribute('aria-label'), { timeout: 15_000 }).toBe('wait: cancelled');
    expect(await runStatus(run)).toBe('cancelled');
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'cancelled by' }).textContent(), { timeout: 10_000 }).toBe('cancelled by admin');
    await waitFor(() => sleeping('sleep 300').length === 0, 15_000, 'the task\'s sleep to be killed');
    // A cancelled run can no longer be cancelled, only rerun.
    expect(await cancelButton(page).count()).toBe(0);
    expect(await rerunButton(page).count()).toBe(1);
  });

  it('reruns a run\'s failed task from its page', async () => {
    const marker = join(box.sharedDir('rerun'), 'failed-once');
    const run = await submit('rerun', {
      'slipway.yml': `
name: ui-rerun
matrix:
  n: ["1", "2"]
activities:
  builder: { max_workers: 1 }
steps:
  check:
    over: [n]
    retry: { attempts: 1 }
    run: |
      if [ "$N" = 2 ] && [ ! -e '${marker}' ]; then
        touch '${marker}'
        echo "n=2 fails the first time" >&2
        exit 3
      fi
      echo "n=$N checks out"
`,
    });
    const page = await open(`/runs/${run}`);
    await loaded(page, 'admin');
    await rerunButton(page).waitFor({ timeout: 30_000 });
    expect(await runBadge(page).textContent()).toContain('failed');
    expect(await page.getByRole('region', { name: 'Failures' }).textContent()).toContain('exit code 3');
    // What it printed last, which says why.
    expect(await page.getByRole('region', { name: 'Failures' }).getByLabel('its last output').textContent()).toBe('n=2 fails the first time');

    await rerunButton(page).click();
    await waitForStatus(run, 'succeeded');
    await expect.poll(() => runBadge(page).textContent(), { timeout: 10_000 }).toContain('succeeded');
    const failed = cell(page, 'check[n=2]');
    await expect.poll(() => failed.getAttribute('aria-label'), { timeout: 10_000 }).toBe('check[n=2]: succeeded');
    expect(await failed.locator('.cell-tries').textContent()).toBe('×2');
    expect(await rerunButton(page).count()).toBe(0);
    expect(await page.getByRole('region', { name: 'Failures' }).count()).toBe(0);

    await failed.click();
    const rows = taskPanel(page).locator('table.attempts tbody tr');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBe(2);
    expect(await rows.nth(0).textContent()).toContain('failed');
    expect(await rows.nth(1).textContent()).toContain('succeeded');
    const task = (await runDetail(run)).tasks.find((t) => t.id === 'check[n=2]')!;
    expect(task.attempts.map((a) => a.outcome)).toEqual(['failed', 'succeeded']);
    // Each attempt shows how long its script ran, as its worker measured it.
    for (const [i, attempt] of task.attempts.entries()) {
      expect(attempt.script_ms).not.toBeNull();
      expect(await rows.nth(i).locator('td.script').textContent()).toBe(formatMillis(attempt.script_ms!));
    }
  });

  it('shows a read-only token no action buttons, and an admin token all of them', async () => {
    const created = await box.run(['tokens', 'create', 'viewer', '--scope', 'read']);
    expect(created.code, created.stderr).toBe(0);
    const viewer = created.stdout.trim();
    const failedRun = await submit('read-only-failed', {
      'slipway.yml': 'name: ui-ro-failed\nactivities:\n  builder: { max_workers: 1 }\nsteps:\n  fail: { run: exit 3, retry: { attempts: 1 } }\n',
    });
    const runningRun = await submit('read-only-running', {
      'slipway.yml': 'name: ui-ro-running\nactivities:\n  builder: { max_workers: 1 }\nsteps:\n  wait: { run: sleep 301 }\n',
    });
    await waitForStatus(failedRun, 'failed');
    await waitFor(() => sleeping('sleep 301').length > 0, 30_000, 'the running run\'s task to start');

    for (const [run, badge] of [[failedRun, 'failed'], [runningRun, 'running']] as const) {
      const page = await open(`/runs/${run}`, viewer);
      await loaded(page, 'viewer');
      await expect.poll(() => runBadge(page).textContent(), { timeout: 10_000 }).toContain(badge);
      expect(await page.getByRole('button', { name: /cancel|rerun/i }).count()).toBe(0);
    }
    const failedPage = await open(`/runs/${failedRun}`);
    await loaded(failedPage, 'admin');
    await rerunButton(failedPage).waitFor({ timeout: 10_000 });
    expect(await cancelButton(failedPage).count()).toBe(0);
    const runningPage = await open(`/runs/${runningRun}`);
    await loaded(runningPage, 'admin');
    await cancelButton(runningPage).waitFor({ timeout: 10_000 });
    expect(await rerunButton(runningPage).count()).toBe(0);

    await api(`/api/v1/runs/${runningRun}/cancel`, { method: 'POST' });
    await waitFor(() => sleeping('sleep 301').length === 0, 15_000, 'the running run\'s sleep to be killed');
  });

  it('shows the fleet by pool, a busy worker\'s task with it, and on the run page the pool the task ran on', async () => {
    const page = await open('/workers');
    await page.locator('.pagehead .live-open').waitFor({ timeout: 10_000 });
    const run = await submit('fleet', {
      'slipway.yml': 'name: ui-fleet\nactivities:\n  pooled: { max_workers: 1 }\nsteps:\n  hold: { run: sleep 303 }\n',
    });
    await waitFor(() => sleeping('sleep 303').length > 0, 30_000, 'the task\'s sleep to start');
    const { workers } = await api<{ workers: { name: string; pool: string; current: { run: string; task: string } | null }[] }>(`/api/v1/workers?run=${run}`);
    const busy = workers.find((w) => w.current?.task === 'hold')!;
    expect(busy.current!.run).toBe(run);

    // The page was open before the run: the pool and its busy worker came with its events.
    const pool = page.getByRole('rowgroup', { name: `Pool ${busy.pool}` });
    const heading = pool.locator('tr.wgroup');
    await expect.poll(() => heading.textContent(), { timeout: 15_000 }).toContain(`1/1 live · 0 queued · run ${run}`);
    expect(await heading.textContent()).toMatch(new RegExp(`^pooled\\s*${busy.pool}\\s*local`));
    const row = pool.getByRole('row', { name: new RegExp(escapeRegExp(busy.name)) });
    const task = row.getByRole('link', { name: 'hold', exact: true });
    await task.waitFor({ timeout: 15_000 });
    expect(await row.locator('.badge').textContent()).toBe('busy');
    expect(await row.locator('.c-machine').textContent()).toMatch(/^pid \d+$/);
    expect(await row.getByRole('link', { name: run }).count()).toBe(1);

    // The task's link opens it on its run's page, whose attempts name the pool.
    await task.click();
    await page.waitForURL((url) => url.pathname === `/runs/${run}`);
    const attempt = taskPanel(page).locator('table.attempts tbody tr');
    await expect.poll(() => attempt.locator('td.pool').textContent(), { timeout: 10_000 }).toBe(busy.pool);

    await api(`/api/v1/runs/${run}/cancel`, { method: 'POST' });
    await waitFor(() => sleeping('sleep 303').length === 0, 15_000, 'the task\'s sleep to be killed');
  });

  // Rewrites the tracked screenshots of the README, so only when asked to.
  it.runIf(process.env.SLIPWAY_SCREENSHOTS === '1')('saves screenshots of the run page and the workers page', async () => {
    const run = await submit('screenshots', {
      'slipway.yml': `
name: packages
matrix:
  version: ["4.28.2", "4.29.0"]
  distro: [debian-12, ubuntu-24.04]
activities:
  builder: { max_workers: 2 }
steps:
  build-source:
    over: [version]
    run: echo "building source $VERSION"
  build-binary:
    needs: [build-source]
    over: [version, distro]
    retry: { attempts: 1 }
    run: |
      printf '\\033[1mconfigure\\033[0m %s for %s\\n' "$VERSION" "$DISTRO"
      for i in $(seq 1 12); do echo "cc -O2 -c src/part$i.c"; done
      if [ "$VERSION" = 4.29.0 ] && [ "$DISTRO" = ubuntu-24.04 ]; then
        printf '\\033[31merror:\\033[0m undefined reference to compress_v2\\n' >&2
        exit 2
      fi
      printf '\\033[32mok\\033[0m\\n'
  package:
    needs: [build-binary]
    over: [version, distro]
    run: echo "packaging $VERSION for $DISTRO"
`,
    });
    await waitForStatus(run, 'failed', 40_000);
    const failedTask = 'build-binary[version=4.29.0,distro=ubuntu-24.04]';
    const page = await open(`/runs/${run}?task=${encodeURIComponent(failedTask)}`);
    await loaded(page, 'admin');
    await taskPanel(page).locator('.logstate', { hasText: 'complete' }).waitFor({ timeout: 10_000 });
    mkdirSync(join(repoRoot, 'docs'), { recursive: true });
    await page.screenshot({ path: join(repoRoot, 'docs/run-page.png') });

    // The workers page with a pool at work above the finished runs' stopped workers.
    const busy = await submit('screenshots-busy', {
      'slipway.yml': `
name: soak
matrix:
  n: ["1", "2", "3"]
activities:
  builder: { max_workers: 3 }
steps:
  work: { over: [n], run: sleep 302 }
`,
    });
    await waitFor(() => sleeping('sleep 302').length === 3, 30_000, 'three workers to be busy');
    const workers = await open('/workers');
    await expect.poll(() => workers.locator('table.workers .badge.w-busy').count(), { timeout: 10_000 }).toBe(3);
    await workers.screenshot({ path: join(repoRoot, 'docs/workers-page.png') });
    await api(`/api/v1/runs/${busy}/cancel`, { method: 'POST' });
    await waitFor(() => sleeping('sleep 302').length === 0, 15_000, 'the busy run\'s sleeps to be killed');
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
