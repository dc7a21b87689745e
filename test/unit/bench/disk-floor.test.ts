import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measureDiskFloor } from '../../../bench/disk-floor.js';

const test = suite('bench: disk floor');

test('times an append + fdatasync and a one-put lmdb commit, then removes its files', async () => {
  const parent = await mkdtemp(join(tmpdir(), 'pandakv-floor-test-'));
  try {
    const dir = join(parent, 'floor');
    const floor = await measureDiskFloor(dir, 5);
    assert.ok(Number.isFinite(floor.appendSyncUs) && floor.appendSyncUs > 0, `append ${floor.appendSyncUs}`);
    assert.ok(Number.isFinite(floor.lmdbCommitUs) && floor.lmdbCommitUs > 0, `commit ${floor.lmdbCommitUs}`);
    assert.not.ok(existsSync(dir));
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
});

test.run();
