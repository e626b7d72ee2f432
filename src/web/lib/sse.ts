/**
 * A server-sent events parser, per the HTML standard's "event stream interpretation".
 * The browser's EventSource would do this, but it cannot send an Authorization header,
 * so the UI reads the stream with fetch and parses it here.
 */

export interface SseMessage {
  /** `message` when the server named none. */
  event: string;
  data: string;
  /** The last event id in force when this message was dispatched ('' if none yet). */
  id: string;
}

export class SseParser {
  private buffer = '';
  /** A chunk ended in CR: a LF starting the next chunk belongs to that line end. */
  private afterCr = false;
  private data: string[] = [];
  private hasData = false;
  private event = '';
  /** The stream's last event id, which a reconnect sends back as Last-Event-ID. */
  lastEventId = '';
  /** The reconnection delay the server asked for, in ms, if it did. */
  retry: number | undefined;

  feed(chunk: string): SseMessage[] {
    const out: SseMessage[] = [];
    let text = chunk;
    if (this.afterCr && text.startsWith('\n')) text = text.slice(1);
    this.afterCr = false;
    text = this.buffer + text;
    let from = 0;
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const c = text.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.line(text.slice(from, i), out);
      if (c === 0x0d) {
        if (i + 1 < n) {
          if (text.charCodeAt(i + 1) === 0x0a) i++;
        } else {
          this.afterCr = true;
        }
      }
      from = i + 1;
    }
    this.buffer = text.slice(from);
    return out;
  }

  private line(line: string, out: SseMessage[]): void {
    if (line === '') {
      this.dispatch(out);
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^[0-9]+$/.test(value)) this.retry = Number(value);
        break;
      default:
        break;
    }
  }

  private dispatch(out: SseMessage[]): void {
    if (this.hasData) {
      out.push({ event: this.event === '' ? 'message' : this.event, data: this.data.join('\n'), id: this.lastEventId });
    }
    this.data = [];
    this.hasData = false;
    this.event = '';
  }
}
