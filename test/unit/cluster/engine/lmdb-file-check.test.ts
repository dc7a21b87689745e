import { Buffer } from 'node:buffer';
import { closeSync, copyFileSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../../../helpers/suite.js';
import { DiskEngine } from '../../../../cluster/node/engine/disk-engine.js';
import { DiskFormatError } from '../../../../cluster/node/engine/disk-store.js';
import { checkLmdbFile } from '../../../../cluster/node/engine/lmdb-file-check.js';

const test = suite('cluster - lmdb data file check at open');

const PAGE = 4096;

function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-file-check-'));
  return fn(dir).finally(() => rmSync(dir, { recursive: true, force: true }));
}

/** The meta page's last page number (lmdb may number pages past the file's end). */
function lastPage(file: string): number {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(2 * PAGE);
    readSync(fd, head, 0, head.length, 0);
    const metas = [0, PAGE].map((at) => ({ last: Number(head.readBigUInt64LE(at + 144)), txn: Number(head.readBigUInt64LE(at + 152)) }));
    return (metas[1]!.txn > metas[0]!.txn ? metas[1]! : metas[0]!).last;
  } finally {
    closeSync(fd);
  }
}

async function fill(path: string, keys: number, valueBytes: number): Promise<void> {
  const e = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
  for (let i = 0; i < keys; i++) e.set(`key:${i}`, new Uint8Array(valueBytes).fill(i & 0xff), 0, 0);
  await e.close();
}

test('a file that ends before the meta\'s last page number, the rest being freed pages, opens', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'engine');
    await fill(path, 3000, 10);
    const e = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    for (let i = 0; i < 3000; i++) e.delete(`key:${i}`);
    e.set('survivor', new Uint8Array([1, 2, 3]), 0, 0);
    await e.close();
    const file = join(path, 'data.mdb');
    assert.ok(statSync(file).size < (lastPage(file) + 1) * PAGE, 'the case under test: pages numbered past the end of the file');
    assert.is(checkLmdbFile(file), null);
    const again = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    try {
      assert.equal([...again.get('survivor')!.value], [1, 2, 3]);
      assert.is(again.size, 1);
    } finally {
      await again.close();
    }
  });
});

test('cut at any page: refused with a clear message, or (only free pages lost) opened whole', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'engine');
    await fill(path, 4000, 60);
    const file = join(path, 'data.mdb');
    const pages = statSync(file).size / PAGE;
    const copy = join(dir, 'copy');
    let refused = 0;
    let opened = 0;
    for (let cut = 2; cut < pages; cut += Math.max(1, Math.floor(pages / 40))) {
      rmSync(copy, { recursive: true, force: true });
      mkdirSync(copy);
      copyFileSync(file, join(copy, 'data.mdb'));
      truncateSync(join(copy, 'data.mdb'), cut * PAGE);
      try {
        const e = new DiskEngine({ path: copy, nodeId: 'n', expirySweepIntervalMs: 0 });
        try {
          for (let i = 0; i < 4000; i += 37) assert.is(e.get(`key:${i}`)?.value[0], i & 0xff, `cut at page ${cut}`);
        } finally {
          await e.close();
        }
        opened++;
      } catch (err) {
        assert.instance(err, DiskFormatError, `cut at page ${cut}: ${String(err)}`);
        assert.match((err as Error).message, /cut short|damaged|not the|lies past/);
        refused++;
      }
    }
    assert.ok(refused > 30, `refused ${refused}, opened ${opened}`);
  });
});

test('a page overwritten with another page\'s bytes, or with zeros, is refused', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'engine');
    await fill(path, 4000, 60);
    const file = join(path, 'data.mdb');
    const pages = statSync(file).size / PAGE;
    let refused = 0;
    for (let victim = 2; victim < pages; victim++) {
      const copy = join(dir, `copy-${victim}`);
      mkdirSync(copy);
      copyFileSync(file, join(copy, 'data.mdb'));
      const fd = openSync(join(copy, 'data.mdb'), 'r+');
      writeSync(fd, Buffer.alloc(PAGE), 0, PAGE, victim * PAGE);
      closeSync(fd);
      const problem = checkLmdbFile(join(copy, 'data.mdb'));
      if (problem !== null) refused++;
      rmSync(copy, { recursive: true, force: true });
    }
    // Branch pages and the main tree's pages are read; a zeroed data leaf is not caught
    // (lmdb keeps no checksums), so only some of the pages are.
    assert.ok(refused >= 2, `refused ${refused} of ${pages - 2}`);
  });
});

test.run();
