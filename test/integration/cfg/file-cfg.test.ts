import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCfg } from '../../../cluster/manager/cfg/file-cfg.js';
import { ErrorCode } from '../../../shared/errors.js';
import { rejection } from '../../helpers/deadline.js';
import { WatchRecorder, bytes, describe, text } from './cfg-fixtures.js';

const test = suite('cluster - cfg file store');

const WAIT_MS = 5000;

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-filecfg-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A valid store file with a few keys, a lease and history, as text. */
async function sampleFile(dir: string): Promise<string> {
  const path = join(dir, 'sample.json');
  const cfg = await FileCfg.open(path);
  const lease = await cfg.grantLease(60_000);
  await cfg.put('a', bytes('1'));
  await cfg.put('b', bytes('2'), { lease });
  await cfg.delete('a');
  await cfg.close();
  return readFile(path, 'utf8');
}

function edit(doc: string, change: (d: Record<string, unknown>) => void): string {
  const d = JSON.parse(doc) as Record<string, unknown>;
  change(d);
  return JSON.stringify(d);
}

test('a damaged config file is an error naming the file, never an empty store, and is left untouched', async () => {
  await withDir(async (dir) => {
    const good = await sampleFile(dir);
    const damaged: Array<[string, string | Uint8Array]> = [
      ['an empty file', ''],
      ['a truncated document', good.slice(0, Math.floor(good.length / 2))],
      ['text that is not JSON', 'hello world'],
      ['bytes that are not UTF-8', new Uint8Array([0x7b, 0xff, 0xfe, 0x7d])],
      ['JSON without the format marker', '{}'],
      ['a future version', edit(good, (d) => { d['version'] = 99; })],
      ['a value that is not base64', edit(good, (d) => { (d['entries'] as Array<Record<string, unknown>>)[0]!['value'] = '*not base64*'; })],
      ['a key bound to an unknown lease', edit(good, (d) => { d['leases'] = []; })],
      ['a revision after the store revision', edit(good, (d) => { d['rev'] = 1; })],
      ['history out of order', edit(good, (d) => { (d['history'] as unknown[]).reverse(); })],
      ['entries that are not a list', edit(good, (d) => { d['entries'] = { a: 1 }; })],
    ];
    for (const [what, content] of damaged) {
      const path = join(dir, 'cfg.json');
      await writeFile(path, content);
      const err = await rejection(FileCfg.open(path));
      assert.is(err.code, ErrorCode.INTERNAL, what);
      assert.ok(err.message.includes(path) && err.message.includes('corrupt'), `${what}: ${err.message}`);
      assert.equal(new Uint8Array(await readFile(path)), typeof content === 'string' ? bytes(content) : content, `${what}: file unchanged`);
    }
  });
});

test('entries, revisions, leases and history survive closing and reopening', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'nested', 'deeper', 'cfg.json');
    const first = await FileCfg.open(path);
    const r1 = await first.put('k/a', bytes('1'));
    const r2 = await first.put('k/b', bytes('2'));
    await first.delete('k/a');
    const before = await first.list('');
    await first.close();
    await first.close();

    const second = await FileCfg.open(path);
    try {
      const after = await second.list('');
      assert.equal(after, before);
      assert.equal((await second.get('k/b'))?.modRev, r2);
      const rec = new WatchRecorder(second.watch('k/', r1));
      await rec.untilEvents(2, WAIT_MS);
      assert.equal(rec.events.map(describe), [`put k/b=2@${r2}`, `delete k/a@${r2 + 1}`]);
      await rec.close();
      assert.is(await second.put('k/c', bytes('3')), before.rev + 1, 'revisions continue after a reopen');
    } finally {
      await second.close();
    }
  });
});

test('a watch from before the bounded history gets a reset, one inside it gets events', async () => {
  await withDir(async (dir) => {
    const cfg = await FileCfg.open(join(dir, 'cfg.json'), { historyLength: 3 });
    try {
      for (let i = 1; i <= 6; i++) await cfg.put(`h/${i}`, bytes(String(i)));
      const early = new WatchRecorder(cfg.watch('h/', 1));
      const recent = new WatchRecorder(cfg.watch('h/', 4));
      await early.until(() => early.resets.length === 1, WAIT_MS, 'reset');
      await recent.untilEvents(2, WAIT_MS);
      assert.equal(early.resets[0]!.entries.map((e) => text(e.value)), ['1', '2', '3', '4', '5', '6']);
      assert.is(early.resets[0]!.rev, 6);
      assert.equal(recent.events.map(describe), ['put h/5=5@5', 'put h/6=6@6']);
      assert.equal(recent.resets, []);
      await early.close();
      await recent.close();
    } finally {
      await cfg.close();
    }
  });
});

test('leases of an earlier run restart their clock on open, then expire and take their keys', async () => {
  await withDir(async (dir) => {
    const path = join(dir, 'cfg.json');
    const first = await FileCfg.open(path);
    const lease = await first.grantLease(200);
    const rev = await first.put('live/n1', bytes('up'), { lease });
    await first.close();
    assert.is(lease.isEnded, true, 'closing ends the handle without revoking');

    const second = await FileCfg.open(path);
    try {
      assert.is((await second.get('live/n1'))?.lease, lease.id, 'the key outlives the closed process for now');
      const rec = new WatchRecorder(second.watch('live/', rev));
      await rec.untilEvents(1, WAIT_MS);
      assert.equal(rec.events.map((e) => e.type === 'delete' && e.key), ['live/n1']);
      await rec.close();
    } finally {
      await second.close();
    }
  });
});

test('concurrent writes in one process are applied one after another with consecutive revisions', async () => {
  await withDir(async (dir) => {
    const cfg = await FileCfg.open(join(dir, 'cfg.json'));
    try {
      const revs = await Promise.all(Array.from({ length: 40 }, (_, i) => cfg.put('counter', bytes(String(i)))));
      assert.equal(revs, Array.from({ length: 40 }, (_, i) => i + 1));
      assert.is(text((await cfg.get('counter'))!.value), '39', 'the last write issued is the last applied');
      const cas = await Promise.all([40, 40, 40].map((expect, i) => cfg.cas('counter', bytes(`cas${i}`), expect)));
      assert.equal(cas.map((r) => r.ok), [true, false, false]);
    } finally {
      await cfg.close();
    }
  });
});

test('a closed store refuses every call with CLIENT_CLOSED', async () => {
  await withDir(async (dir) => {
    const cfg = await FileCfg.open(join(dir, 'cfg.json'));
    await cfg.close();
    for (const call of [cfg.get('a'), cfg.put('a', bytes('1')), cfg.cas('a', null, 0), cfg.list(''), cfg.grantLease(100)]) {
      assert.is((await rejection(call)).code, ErrorCode.CLIENT_CLOSED);
    }
    assert.throws(() => cfg.watch('', 0), (err: Error & { code?: string }) => err.code === ErrorCode.CLIENT_CLOSED);
  });
});

test.run();
