import { describe, expect, it } from 'vitest';
import { SecretMask } from '../../src/secrets/masking.ts';

const value = 'tok/en+"x"\nline-two';

/** What a log gets when the output arrives in these chunks. */
function logged(chunks: string[]): string {
  const mask = new SecretMask([value]);
  return chunks.map((chunk) => mask.push(chunk)).join('') + mask.end();
}

describe('SecretMask', () => {
  it('masks a secret that arrives one character at a time', () => {
    expect(logged([...`before ${value} after\n`])).toBe('before ***\n*** after\n');
  });

  it('masks each form whole, wherever chunks split it', () => {
    const base64 = Buffer.from(value).toString('base64');
    const text = `${base64}\n${encodeURIComponent(value)}\n${JSON.stringify(value)}\n`;
    const padding = base64.match(/=*$/)![0];
    for (let cut = 0; cut <= text.length; cut++) {
      expect(logged([text.slice(0, cut), text.slice(cut)])).toBe(`***${padding}\n***\n"***"\n`);
    }
  });

  it('holds back only what could start a secret', () => {
    const mask = new SecretMask([value]);
    expect(mask.push('compiling 3 files\n')).toBe('compiling 3 files\n');
    expect(mask.push('token: tok/')).toBe('token: ');
    expect(mask.push('ay\n')).toBe('tok/ay\n');
  });
});
