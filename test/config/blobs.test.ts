import { describe, expect, it } from 'vitest';
import { defaultConfigText } from '../../src/config/default-text.ts';
import { parseConfig } from '../../src/config/load.ts';
import { mistakes, STATE } from '../helpers/config-mistakes.ts';

describe('[blobs]', () => {
  it('leaves the store of blobs to the store by default (see open-blob-store.ts), and takes each kind', () => {
    expect(parseConfig('', 'config.toml', STATE).blobs).toEqual({ prefix: '', force_path_style: false });
    for (const store of ['files', 'database']) expect(parseConfig(`[blobs]\nstore = "${store}"\n`, 'config.toml', STATE).blobs.store).toBe(store);
  });

  it('prints a commented default whose bucket example works once uncommented', () => {
    const text = defaultConfigText();
    const start = text.indexOf('[blobs]');
    const block = text.slice(start, text.indexOf('\n\n', start));
    expect(block).toContain('# store = "database"');
    const s3 = text.replace(block, block.replace('# store = "database"', 'store = "s3"').replace(/^# (bucket|region|endpoint) = /gm, '$1 = '));
    expect(parseConfig(s3, 'config.toml', STATE).blobs).toEqual({
      store: 's3', bucket: 'slipway-artifacts', prefix: '', region: 'us-east-1', endpoint: 'http://storage.internal:9000', force_path_style: false,
    });
  });

  it('takes an S3-compatible bucket, and no secret', () => {
    const text = '[blobs]\nstore = "s3"\nbucket = "ci-artifacts"\nprefix = "slipway/blobs/"\nendpoint = "http://127.0.0.1:9000"\nforce_path_style = true\nprofile = "ci"\n';
    expect(parseConfig(text, 'config.toml', STATE).blobs).toEqual({
      store: 's3', bucket: 'ci-artifacts', prefix: 'slipway/blobs/', endpoint: 'http://127.0.0.1:9000', force_path_style: true, profile: 'ci',
    });
    expect(mistakes('[blobs]\nstore = "s3"\nbucket = "b1b"\nsecret_access_key = "x"\n').join('\n')).toBe("config.toml:4:1: blobs: unknown key 'secret_access_key'");
  });

  it('says what is wrong, where', () => {
    expect(mistakes('[blobs]\nstore = "s3"\n')).toEqual(["config.toml:1:2: blobs: missing required key 'bucket'"]);
    expect(mistakes('[blobs]\nstore = "gcs"\n').join('\n')).toContain('blobs.store: expected one of "files", "s3", "database"');
    expect(mistakes('[blobs]\nprefix = "/abs"\n').join('\n')).toContain('blobs.prefix: expected a key prefix of plain names each ending in "/", such as "slipway/"');
    expect(mistakes('[blobs]\nendpoint = "ftp://x"\n').join('\n')).toContain('blobs.endpoint: expected an http:// or https:// URL');
  });
});
