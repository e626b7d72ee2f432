import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runTree } from '../../src/cli/run-tree.ts';
import { TestRepository, testVcsEnv } from '../helpers/repositories.ts';
import { tempDir } from '../helpers/temp.ts';

describe('the tree slipway run takes from a working copy', () => {
  let temp: ReturnType<typeof tempDir>;
  let savedEnv: NodeJS.ProcessEnv;
  beforeEach(() => {
    temp = tempDir('slipway-run-tree-');
    savedEnv = process.env;
    process.env = testVcsEnv();
  });
  afterEach(() => {
    process.env = savedEnv;
    temp.remove();
  });

  it('keeps the pipeline file even when it is ignored, and copes with a repository without commits', async () => {
    const repo = new TestRepository('git', join(temp.path, 'repo'));
    repo.write({ '.gitignore': '*.yml\n', 'slipway.yml': 'name: x\n', 'other.yml': 'ignored\n', 'a.txt': 'a\n' });
    const tree = await runTree(join(repo.root, 'slipway.yml'));
    expect(tree.files).toEqual(['.gitignore', 'a.txt', 'slipway.yml']);
    expect(tree.origin).toEqual({ vcs: 'git', repository: repo.root, revision: null, branch: null, base: null, author: null, message: null, try: false });
    expect(tree.summary).toBe(`source: working tree of git repository ${repo.root}, 2 ignored paths left out`);
  });
});
