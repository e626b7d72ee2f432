import { describe, expect, it } from 'vitest';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';

const succeeded = { outcome: 'succeeded' as const, exitCode: 0, error: null };
const failed = { outcome: 'failed' as const, exitCode: 1, error: 'exit code 1' };

/*
 * Finishes that arrive together (in one turn of the event loop) share one transaction and
 * its statements: each must come out as if it had been alone.
 */
describe('finishes in one commit', () => {
  const h = protocolHarness();

  async function busyWorkers(count: number, values: string[]) {
    const once = { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 };
    const runId = await h.start(pipelineOf([{ name: 'build', over: ['n'], retry: once }], { matrix: { n: values }, maxWorkers: count }));
    const workers = await Promise.all(Array.from({ length: count }, (_, i) => h.worker(i)));
    const attempts = [];
    for (const w of workers) attempts.push(await h.claimAttempt(w));
    return { runId, workers, attempts };
  }

  it('end a run once when they end its last tasks', async () => {
    const { runId, workers, attempts } = await busyWorkers(3, ['0', '1', '2']);
    const answers = await Promise.all(workers.map((w, i) => h.coordinator.finish(w, attempts[i]!.id, succeeded, true)));
    expect(answers.map((a) => a.finished)).toEqual(attempts.map(() => expect.objectContaining({ kind: 'recorded', stop: true })));
    expect(answers.map((a) => a.next)).toEqual([null, null, null]);
    expect(await h.statuses(runId)).toEqual({ 'build[n=0]': 'succeeded', 'build[n=1]': 'succeeded', 'build[n=2]': 'succeeded' });
    expect(h.events.filter((e) => e.run === runId && e.kind === 'run.finished').map((e) => e.message)).toEqual(['succeeded: 3 succeeded']);
  });

  it('hand their workers the next tasks, each its own, first queued first', async () => {
    const { runId, workers, attempts } = await busyWorkers(3, ['0', '1', '2', '3', '4', '5', '6']);
    const answers = await Promise.all(workers.map((w, i) => h.coordinator.finish(w, attempts[i]!.id, succeeded, true)));
    expect(answers.map((a) => (a.next?.kind === 'attempt' ? a.next.attempt.task : a.next?.kind))).toEqual(['build[n=3]', 'build[n=4]', 'build[n=5]']);
    const started = h.events.filter((e) => e.run === runId && e.kind === 'task.started' && ['build[n=3]', 'build[n=4]', 'build[n=5]'].includes(e.task!));
    expect(started.map((e) => [e.task, e.worker])).toEqual(workers.map((w, i) => [`build[n=${i + 3}]`, w.workerId]));
    // Each worker is busy with what it was handed: its next finish is its own.
    const next = answers.map((a) => (a.next?.kind === 'attempt' ? a.next.attempt : undefined)!);
    const again = await Promise.all(workers.map((w, i) => h.coordinator.finish(w, next[i]!.id, succeeded, true)));
    expect(again.map((a) => a.finished.kind)).toEqual(['recorded', 'recorded', 'recorded']);
    expect(again.map((a) => (a.next?.kind === 'attempt' ? a.next.attempt.task : a.next?.kind))).toEqual(['build[n=6]', 'none', 'none']);
  });

  it('go together however many come at once', async () => {
    // More than PostgreSQL keeps prepared for one count of rows (see preparedRows).
    const count = 20;
    const { runId, workers, attempts } = await busyWorkers(count, Array.from({ length: 2 * count }, (_, i) => String(i)));
    const answers = await Promise.all(workers.map((w, i) => h.coordinator.finish(w, attempts[i]!.id, succeeded, true)));
    const next = answers.map((a) => (a.next?.kind === 'attempt' ? a.next.attempt.task : a.next?.kind));
    expect(next).toEqual(Array.from({ length: count }, (_, i) => `build[n=${count + i}]`));
    const running = Object.values(await h.statuses(runId)).filter((status) => status === 'running');
    expect(running).toHaveLength(count);
  });

  it('answer a report sent twice as the first, without handing out a second task', async () => {
    const { workers, attempts } = await busyWorkers(1, ['0', '1', '2']);
    const [first, repeated] = await Promise.all([
      h.coordinator.finish(workers[0]!, attempts[0]!.id, succeeded, true),
      h.coordinator.finish(workers[0]!, attempts[0]!.id, succeeded, true),
    ]);
    expect(first!.next).toMatchObject({ kind: 'attempt', attempt: { task: 'build[n=1]' } });
    expect(repeated!.finished.kind).toBe('recorded');
    expect(repeated!.next).toMatchObject({ kind: 'attempt', attempt: { id: (first!.next as { attempt: { id: string } }).attempt.id } });
  });

  it('stop the workers of a run that a failure among them ended', async () => {
    // Two workers on the last two tasks: one fails, so its worker drains and the run ends failed; the other's worker stops too.
    const { runId, workers, attempts } = await busyWorkers(2, ['0', '1']);
    const [ok, bad] = await Promise.all([
      h.coordinator.finish(workers[0]!, attempts[0]!.id, succeeded, true),
      h.coordinator.finish(workers[1]!, attempts[1]!.id, failed, true),
    ]);
    expect(ok!.finished).toMatchObject({ kind: 'recorded', stop: true });
    expect(bad!.finished).toMatchObject({ kind: 'recorded', stop: true });
    expect(await h.statuses(runId)).toEqual({ 'build[n=0]': 'succeeded', 'build[n=1]': 'failed' });
    const states = await h.store.db.selectFrom('workers').select(['id', 'state']).where('run_id', '=', runId).orderBy('id').execute();
    expect(new Set(states.map((w) => w.state))).toEqual(new Set(['draining']));
  });
});

/* Claims that arrive together share one transaction, and its statements, as finishes do. */
describe('claims in one commit', () => {
  const h = protocolHarness();

  it('hand each worker its own task, first queued first, and a worker that asks twice the same one', async () => {
    const runId = await h.start(pipelineOf([{ name: 'build', over: ['n'] }], { matrix: { n: ['0', '1', '2', '3'] }, maxWorkers: 3 }));
    const workers = await Promise.all([0, 1, 2].map((i) => h.worker(i)));
    const claimed = await Promise.all([...workers.map((w) => h.claimTask(w)), h.claimTask(workers[0]!)]);
    expect(claimed.slice(0, 3).map((attempt) => (typeof attempt === 'string' ? attempt : attempt.task))).toEqual(['build[n=0]', 'build[n=1]', 'build[n=2]']);
    // Its second claim (a long poll sent again) finds it busy with what its first was handed.
    expect(claimed[3]).toEqual(claimed[0]);
    expect(Object.values(await h.statuses(runId)).filter((status) => status === 'running')).toHaveLength(3);
  });
});
