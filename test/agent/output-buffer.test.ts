import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { OutputBatcher } from '../../src/agent/output-buffer.ts';

/** A flush that records each batch, takes `delayMs`, and notes whether two ever overlapped. */
function recorder(delayMs = 0) {
  const batches: string[] = [];
  let active = 0;
  let maxActive = 0;
  const flush = async (text: string) => {
    active += 1;
    maxActive = Math.max(maxActive, active);
    await sleep(delayMs);
    batches.push(text);
    active -= 1;
  };
  return { batches, flush, maxActive: () => maxActive };
}

describe('OutputBatcher', () => {
  it('sends small pushes together after maxDelayMs', async () => {
    const { batches, flush } = recorder();
    const batcher = new OutputBatcher({ flush, maxDelayMs: 30 });
    batcher.push('a');
    batcher.push('b');
    batcher.push('c');
    await sleep(5);
    expect(batches).toEqual([]);
    await sleep(60);
    expect(batches).toEqual(['abc']);
    await batcher.close();
    expect(batches).toEqual(['abc']);
  });

  it('flushes at maxBytes (counted in UTF-8) without waiting, and close sends the rest', async () => {
    const { batches, flush } = recorder();
    const batcher = new OutputBatcher({ flush, maxBytes: 4, maxDelayMs: 60_000 });
    batcher.push('é');
    await sleep(5);
    expect(batches).toEqual([]);
    batcher.push('é');
    await sleep(5);
    expect(batches).toEqual(['éé']);
    batcher.push('x');
    await batcher.close();
    expect(batches).toEqual(['éé', 'x']);
  });

  it('keeps order, never overlaps flushes and bounds each batch', async () => {
    const { batches, flush, maxActive } = recorder(5);
    const batcher = new OutputBatcher({ flush, maxBytes: 32, maxDelayMs: 10 });
    const pushed: string[] = [];
    for (let i = 0; i < 200; i += 1) {
      const chunk = `${i};`;
      pushed.push(chunk);
      batcher.push(chunk);
      if (i % 20 === 0) await sleep(3);
    }
    await batcher.close();
    expect(batches.join('')).toBe(pushed.join(''));
    expect(maxActive()).toBe(1);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.length).toBeLessThan(pushed.length);
    for (const batch of batches) expect(Buffer.byteLength(batch)).toBeLessThanOrEqual(32);
  });

  it('close waits for a flush already in flight', async () => {
    const { batches, flush } = recorder(50);
    const batcher = new OutputBatcher({ flush, maxBytes: 1 });
    batcher.push('first');
    await sleep(5); // now in flight
    batcher.push('second');
    await batcher.close();
    expect(batches).toEqual(['first', 'second']);
    expect(() => batcher.push('late')).toThrow(/after close/);
  });

  it('carries on after a failed flush and reports the failure on close', async () => {
    const batches: string[] = [];
    const batcher = new OutputBatcher({
      maxBytes: 1,
      flush: async (text) => {
        if (text === 'lost') throw new Error('coordinator unreachable');
        batches.push(text);
      },
    });
    batcher.push('lost');
    await sleep(5);
    batcher.push('kept');
    await expect(batcher.close()).rejects.toThrow('coordinator unreachable');
    expect(batches).toEqual(['kept']);
  });
});
