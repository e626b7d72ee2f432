import { MIN_SECRET_LENGTH } from './rules.ts';

export const MASK = '***';

/**
 * Every text under which a task's output may show a secret: the value, its base64 (of the
 * value, and of the value and a newline as `echo | base64` writes it; unpadded, so the
 * padded form is caught too), URL-encoded and JSON-escaped forms, and each line of a
 * multi-line value. Longest first, so a form holding another is masked whole. Forms shorter
 * than a secret may be are left alone: they would mask ordinary output.
 */
export function maskedForms(values: Iterable<string>): string[] {
  const forms = new Set<string>();
  for (const value of values) {
    const candidates = [
      value,
      Buffer.from(value).toString('base64').replace(/=+$/, ''),
      Buffer.from(`${value}\n`).toString('base64').replace(/=+$/, ''),
      encodeURIComponent(value),
      JSON.stringify(value).slice(1, -1),
      ...value.split(/\r?\n/).map((line) => line.trim()),
    ];
    for (const form of candidates) if (form.length >= MIN_SECRET_LENGTH) forms.add(form);
  }
  return [...forms].sort((a, b) => b.length - a.length);
}

/**
 * Masks a stream of output chunks. A secret may arrive split across two chunks, so the end
 * of what was pushed is held back for as long as it could be the start of one, and sent
 * with the next chunk (or by `end`).
 */
export class SecretMask {
  readonly #forms: string[];
  #held = '';

  constructor(values: Iterable<string>) {
    this.#forms = maskedForms(values);
  }

  push(chunk: string): string {
    if (this.#forms.length === 0) return chunk;
    let text = this.#held + chunk;
    for (const form of this.#forms) text = text.split(form).join(MASK);
    const keep = this.#startOfAForm(text);
    this.#held = text.slice(text.length - keep);
    return text.slice(0, text.length - keep);
  }

  /** What was held back: the stream ended, so it is no secret's start any more. */
  end(): string {
    const held = this.#held;
    this.#held = '';
    return held;
  }

  /** The length of the longest end of `text` that some form starts with. */
  #startOfAForm(text: string): number {
    const longest = Math.min(text.length, this.#forms[0]!.length - 1);
    for (let length = longest; length > 0; length--) {
      const end = text.slice(text.length - length);
      if (this.#forms.some((form) => form.startsWith(end))) return length;
    }
    return 0;
  }
}
