import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DirError, ensureDir, ensureDirSync } from '../../../cluster/ensure-dir.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('cluster - ensure dir');

async function failure(p: Promise<unknown>): Promise<DirError> {
  const err = await p.then(() => null, (e: unknown) => e);
  assert.ok(err instanceof DirError, String(err));
  return err as DirError;
}

test('creates every missing level and accepts an existing directory', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pandakv-dir-'));
  try {
    const deep = join(root, 'a', 'b', 'c');
    await ensureDir(deep);
    assert.ok((await stat(deep)).isDirectory());
    await ensureDir(deep);
    await ensureDir(root);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a directory under /proc fails at once with ENOENT instead of spinning', async () => {
  const err = await withDeadline(failure(ensureDir('/proc/nope/deeper')), 5000, 'ensureDir under /proc');
  assert.match(err.message, /^cannot use directory \/proc\/nope\/deeper: cannot create \/proc\/nope: .*ENOENT/);
});

test('the synchronous form fails the same way, and creates the same way', async () => {
  assert.throws(() => ensureDirSync('/proc/nope'), (e: unknown) => e instanceof DirError && /cannot create \/proc\/nope: .*ENOENT/.test(e.message));
  const root = await mkdtemp(join(tmpdir(), 'pandakv-dir-'));
  try {
    ensureDirSync(join(root, 'x', 'y'));
    assert.ok((await stat(join(root, 'x', 'y'))).isDirectory());
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test('a file in the way is named', async () => {
  const root = await mkdtemp(join(tmpdir(), 'pandakv-dir-'));
  try {
    await writeFile(join(root, 'file'), 'x');
    const err = await failure(ensureDir(join(root, 'file', 'sub')));
    assert.match(err.message, /file is not a directory|ENOTDIR/);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
});

test.run();
