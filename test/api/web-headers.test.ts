import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { webUi } from '../../src/api/web-ui.ts';
import { tempDir } from '../helpers/temp.ts';

describe('the web UI', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  mkdirSync(join(dir.path, 'assets'));
  writeFileSync(join(dir.path, 'index.html'), '<!doctype html><title>Slipway</title>');
  writeFileSync(join(dir.path, 'assets', 'index-abc.js'), 'export {};');
  const app = webUi(dir.path);

  it('sends a strict Content-Security-Policy, nosniff, no referrer and no framing with its pages and assets', async () => {
    for (const path of ['/', '/runs/r-00000000', '/workers', '/assets/index-abc.js', '/assets/missing.js']) {
      const response = await app.request(path);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toContain('unsafe-');
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });
});
