import { describe, expect, it } from 'vitest';
import { SseParser } from '../../src/web/lib/sse.ts';

describe('SseParser', () => {
  it('dispatches events with their type, data and id', () => {
    const p = new SseParser();
    expect(p.feed('event: run-event\nid: 7\ndata: {"seq":7}\n\n')).toEqual([
      { event: 'run-event', data: '{"seq":7}', id: '7' },
    ]);
    expect(p.lastEventId).toBe('7');
  });

  it('joins events split across chunks at any byte', () => {
    const p = new SseParser();
    const text = 'event: log\ndata: {"text":"a"}\n\nevent: end\ndata: {}\n\n';
    const out = [];
    for (const ch of text) out.push(...p.feed(ch));
    expect(out).toEqual([
      { event: 'log', data: '{"text":"a"}', id: '' },
      { event: 'end', data: '{}', id: '' },
    ]);
  });

  it('accepts CRLF and CR line endings, including a CRLF split between chunks', () => {
    const p = new SseParser();
    expect(p.feed('data: a\r')).toEqual([]);
    expect(p.feed('\n\r\n')).toEqual([{ event: 'message', data: 'a', id: '' }]);
    expect(p.feed('data: b\r\rdata: c\n\n')).toEqual([
      { event: 'message', data: 'b', id: '' },
      { event: 'message', data: 'c', id: '' },
    ]);
  });

  it('joins multi-line data with newlines and strips one leading space only', () => {
    const p = new SseParser();
    expect(p.feed('data:one\ndata:  two\ndata\n\n')).toEqual([{ event: 'message', data: 'one\n two\n', id: '' }]);
  });

  it('ignores comments (keep-alives), unknown fields and events without data', () => {
    const p = new SseParser();
    expect(p.feed(': ping\n\nfoo: bar\n\nevent: x\n\n')).toEqual([]);
    expect(p.feed('data: after\n\n')).toEqual([{ event: 'message', data: 'after', id: '' }]);
  });

  it('keeps the last id for later events and a reconnect', () => {
    const p = new SseParser();
    p.feed('id: 41\ndata: a\n\n');
    expect(p.feed('data: b\n\n')).toEqual([{ event: 'message', data: 'b', id: '41' }]);
    p.feed('id: 4\u00002\ndata: c\n\n');
    expect(p.lastEventId).toBe('41');
  });

  it('reads the retry delay when it is all digits', () => {
    const p = new SseParser();
    p.feed('retry: 2500\n\nretry: soon\n\n');
    expect(p.retry).toBe(2500);
  });

  it('holds an unterminated event until its blank line arrives', () => {
    const p = new SseParser();
    expect(p.feed('data: partial\n')).toEqual([]);
    expect(p.feed('\n')).toEqual([{ event: 'message', data: 'partial', id: '' }]);
  });
});
