import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { open } from 'lmdb';
import * as assert from 'uvu/assert';
import { suite } from '../../../helpers/suite.js';
import { poll } from '../../../helpers/deadline.js';
import { bucketOfBinary } from '../../../../shared/keystream.js';
import { unitGridRanges, unheldRanges, type ClusterMap } from '../../../../shared/cluster-map.js';
import { DiskEngine } from '../../../../cluster/node/engine/disk-engine.js';
import { MemoryEngine } from '../../../../cluster/node/engine/memory-engine.js';
import { INDEX_BUCKET_BITS, type ItemPage, type KvEngine } from '../../../../cluster/node/engine/types.js';
import type { DiskEngineOptions } from '../../../../cluster/node/engine/disk-options.js';
import { Ownership } from '../../../../cluster/node/ownership.js';
import { Purger } from '../../../../cluster/node/purge.js';
import { clearUnits } from '../../../../cluster/node/replication/clear-units.js';

const test = suite('cluster - disk engine bucket index, purge and unit clearing by range');

const ALL = 2 ** INDEX_BUCKET_BITS;

async function withDisk(fn: (engine: DiskEngine, path: string) => Promise<void> | void, options: Partial<DiskEngineOptions> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-index-test-'));
  const path = join(dir, 'engine');
  const engine = new DiskEngine({ path, nodeId: 'node-a', expirySweepIntervalMs: 0, ...options });
  try {
    await fn(engine, path);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every key the index returns for `[lo, hi)`, walked in slices of `slice`. */
function indexWalk(engine: KvEngine, lo = 0, hi = ALL, slice = 7): string[] {
  const out: string[] = [];
  let after: string | null = null;
  do {
    const page: { keys: string[]; next: string | null } = engine.bucketKeys(lo, hi, after, slice)!;
    out.push(...page.keys);
    after = page.next;
  } while (after !== null);
  return out;
}

function storedKeys(engine: KvEngine): string[] {
  return engine.scanKeys('', 1_000_000).keys;
}

const v = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

/** A map of 2^bits buckets in `units` units, unit u placed on node u % nodes (one copy). */
function spreadMap(nodes: number, bits = 12, unitBits = 8): ClusterMap {
  const units = 2 ** unitBits;
  const width = 2 ** (bits - unitBits);
  return {
    epoch: 1, rev: 1, bits, unitBits,
    nodes: Array.from({ length: nodes }, (_, i) => ({ id: `n${i}`, address: `ws://127.0.0.1:${i + 1}`, peerKey: null, zone: 'z', weight: 1, state: 'active' as const })),
    chains: Array.from({ length: nodes }, (_, i) => [i]),
    runStarts: Array.from({ length: units }, (_, u) => u * width),
    runChains: Array.from({ length: units }, (_, u) => u % nodes),
    moves: [],
  };
}

test('the index holds exactly the stored keys through creates, overwrites, deletes, flush and commits', async () => {
  await withDisk(async (engine) => {
    for (let i = 0; i < 500; i++) engine.set(`k:${i}`, v('x'), 0, 0);
    // Read before the commit: the first slice brings the keys still in the overlay.
    assert.equal(new Set(indexWalk(engine)), new Set(storedKeys(engine)));
    await engine.whenDurable();
    for (let i = 0; i < 500; i += 2) engine.set(`k:${i}`, v('y'), 0, 0);
    for (let i = 0; i < 500; i += 5) engine.delete(`k:${i}`);
    engine.add('k:0', v('back'), 0, 0);
    await engine.whenDurable();
    const keys = storedKeys(engine);
    assert.is(keys.length, 401);
    assert.equal(indexWalk(engine).sort(), [...keys].sort());
    engine.flush();
    engine.set('after-flush', v('z'), 0, 0);
    await engine.whenDurable();
    assert.equal(indexWalk(engine), ['after-flush']);
  });
});

test('a bucket range reads only its own keys, in bucket order', async () => {
  await withDisk(async (engine) => {
    for (let i = 0; i < 3000; i++) engine.set(`key-${i}`, v('x'), 0, 0);
    await engine.whenDurable();
    const lo = 1000;
    const hi = 9000;
    const got = indexWalk(engine, lo, hi, 100);
    const want = storedKeys(engine).filter((k) => {
      const b = bucketOfBinary(k, INDEX_BUCKET_BITS);
      return b >= lo && b < hi;
    });
    assert.ok(want.length > 100 && want.length < 3000);
    assert.equal([...got].sort(), [...want].sort());
    const buckets = got.map((k) => bucketOfBinary(k, INDEX_BUCKET_BITS));
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i - 1]! <= buckets[i]!, 'bucket order');
  });
});

test('random writes, deletes, expiries and reopenings keep the index equal to the items (property)', async () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('set' as const), key: fc.integer({ min: 0, max: 40 }), ttl: fc.constantFrom(0, 0, -1) }),
    fc.record({ kind: fc.constant('delete' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('append' as const), key: fc.integer({ min: 0, max: 40 }) }),
    fc.record({ kind: fc.constant('commit' as const) }),
  );
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
    const dir = mkdtempSync(join(tmpdir(), 'pandakv-index-prop-'));
    const path = join(dir, 'engine');
    let engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    try {
      for (const o of ops) {
        if (o.kind === 'set') engine.set(`p${o.key}`, v('1'), 0, o.ttl);
        else if (o.kind === 'delete') engine.delete(`p${o.key}`);
        else if (o.kind === 'append') engine.append(`p${o.key}`, v('+'));
        else await engine.whenDurable();
      }
      await engine.close();
      engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
      assert.equal(indexWalk(engine).sort(), storedKeys(engine).sort());
    } finally {
      await engine.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }), { numRuns: 40 });
});

test('a store written before the index gets one built when it opens', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-index-old-'));
  const path = join(dir, 'engine');
  try {
    let engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    for (let i = 0; i < 2000; i++) engine.set(`old-${i}`, v('x'), 0, 0);
    await engine.close();
    // Make it what an older store looked like: no index and no mark that it is whole.
    const root = open<Buffer, Buffer>({ path, encoding: 'binary', keyEncoding: 'binary', maxDbs: 8, overlappingSync: false, noMemInit: true });
    const sub = { encoding: 'binary' as const, keyEncoding: 'binary' as const };
    const buckets = root.openDB<Buffer, Buffer>({ name: 'buckets', ...sub });
    const meta = root.openDB<Buffer, Buffer>({ name: 'meta', ...sub });
    await root.transaction(() => {
      for (const key of buckets.getKeys({})) buckets.removeSync(key);
      meta.removeSync(Buffer.from('bucketIndex'));
    });
    await root.close();
    engine = new DiskEngine({ path, nodeId: 'n', expirySweepIntervalMs: 0 });
    try {
      assert.is(indexWalk(engine, 0, ALL, 500).length, 2000);
    } finally {
      await engine.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a page of units\' items walks their ranges in index order, committed and pending writes merged, each key once', async () => {
  await withDisk(async (engine) => {
    for (let i = 0; i < 3000; i++) engine.set(`u:${i}`, v(`old${i}`), 0, 0);
    await engine.whenDurable();
    // Not yet committed: new keys, overwrites, deletes.
    for (let i = 3000; i < 3300; i++) engine.set(`u:${i}`, v(`new${i}`), 0, 0);
    for (let i = 0; i < 3000; i += 3) engine.set(`u:${i}`, v(`over${i}`), 0, 0);
    for (let i = 1; i < 3000; i += 7) engine.delete(`u:${i}`);
    const units = new Set([3, 4, 9, 200, 201]);
    const ranges = unitGridRanges(units, 8, INDEX_BUCKET_BITS)!;
    const want = new Map<string, string>();
    for (let i = 0; i < 3300; i++) {
      const key = `u:${i}`;
      if (!units.has(bucketOfBinary(key, 8)) || (i < 3000 && i % 7 === 1)) continue;
      want.set(key, i >= 3000 ? `new${i}` : i % 3 === 0 ? `over${i}` : `old${i}`);
    }
    assert.ok(want.size > 20);
    const got = new Map<string, string>();
    let after: string | null = null;
    let pages = 0;
    do {
      const page: ItemPage = engine.bucketPage(ranges, after, 5, 1000)!;
      for (const it of page.items) {
        assert.not.ok(got.has(it.key), `${it.key} twice`);
        got.set(it.key, Buffer.from(it.value).toString());
      }
      after = page.next;
      pages++;
    } while (after !== null && pages < 10_000);
    assert.equal(new Map([...got].sort()), new Map([...want].sort()));
    assert.ok(pages >= want.size / 5);
  });
});

test('hostile cursors (a peer\'s pull) never throw and never leave the asked ranges', async () => {
  await withDisk(async (engine) => {
    for (let i = 0; i < 2000; i++) engine.set(`h:${i}`, v('x'), 0, 0);
    await engine.whenDurable();
    const ranges = unitGridRanges([7, 8, 60], 8, INDEX_BUCKET_BITS)!;
    const inRanges = (key: string): boolean => {
      const b = bucketOfBinary(key, INDEX_BUCKET_BITS);
      return ranges.some(([lo, hi]) => b >= lo && b < hi);
    };
    const cursors = ['', '\0', '\xff', '\xff\xff', '\xff\xff\xff\xff', '\x07', '\x07\x00', String.fromCharCode(0x07, 0x80) + 'zz', 'x'.repeat(600)];
    fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      cursors.push(Buffer.from(bytes).toString('latin1'));
      return true;
    }), { numRuns: 200 });
    for (const cursor of cursors) {
      const page = engine.bucketPage(ranges, cursor, 50, 100)!;
      for (const it of page.items) assert.ok(inRanges(it.key), `${JSON.stringify(cursor)} gave ${it.key}`);
      const keys = engine.bucketKeys(0, 3, cursor, 50)!;
      for (const key of keys.keys) assert.ok(bucketOfBinary(key, INDEX_BUCKET_BITS) < 3);
    }
  });
});

test('grid ranges: unheld runs and units map onto the 2^16 grid, merged', () => {
  const map = spreadMap(2, 12, 8);
  const mine = unheldRanges(map, 0, INDEX_BUCKET_BITS);
  assert.is(mine.length, 128);
  assert.equal(mine[0], [256, 512]);
  assert.equal(unheldRanges(map, -1, INDEX_BUCKET_BITS), [[0, ALL]]);
  assert.equal(unheldRanges(spreadMap(1, 12, 8), 0, INDEX_BUCKET_BITS), []);
  // A grid coarser than the buckets: a cell only partly unheld is covered whole.
  assert.equal(unheldRanges(spreadMap(2, 12, 8), 1, 4), [[0, 16]]);
  assert.equal(unitGridRanges([3, 1, 2, 7], 8, INDEX_BUCKET_BITS), [[256, 1024], [1792, 2048]]);
  assert.is(unitGridRanges([1], 17, INDEX_BUCKET_BITS), null);
});

async function purgeOnce(engine: KvEngine, own: Ownership): Promise<Purger> {
  const purger = new Purger(engine, own, {}, 512);
  purger.request();
  await poll(async () => ((purger as unknown as { isRunning: boolean }).isRunning ? null : true), 20_000, 'purge pass');
  return purger;
}

test('purge reads only the keys of units the node gave up (disk), every key without an index (memory)', async () => {
  const map = spreadMap(3);
  const keys = Array.from({ length: 12_000 }, (_, i) => `user:${i}`);
  const own = new Ownership(map.bits, true);
  own.applyMap(map, 0);
  const kept = keys.filter((k) => own.holdsKey(k));
  await withDisk(async (disk) => {
    const memory = new MemoryEngine({ memorySizeMb: 64 });
    for (const engine of [disk, memory] as KvEngine[]) {
      for (const k of keys) engine.set(k, v(k), 0, 0);
      if (engine === disk) await disk.whenDurable();
      const purger = await purgeOnce(engine, own);
      assert.is(purger.purged, keys.length - kept.length, engine.kind);
      for (const k of keys) assert.is(engine.get(k) !== null, own.holdsKey(k), k);
      if (engine.hasBucketIndex) assert.is(purger.keysRead, keys.length - kept.length, 'only the unheld ranges were read');
      else assert.is(purger.keysRead, keys.length);
    }
    await disk.whenDurable();
    assert.equal(indexWalk(disk, 0, ALL, 1000).sort(), [...kept].sort());
  });
});

test('purge leaves a unit the node holds again by the time its keys come up', async () => {
  const map = spreadMap(2);
  const own = new Ownership(map.bits, true);
  own.applyMap(map, 0);
  await withDisk(async (disk) => {
    const keys = Array.from({ length: 4000 }, (_, i) => `k${i}`);
    for (const k of keys) disk.set(k, v('x'), 0, 0);
    await disk.whenDurable();
    const purger = new Purger(disk, own, {}, 64);
    purger.request();
    // The next map gives this node everything: what the pass has not reached yet stays.
    own.applyMap({ ...spreadMap(1), epoch: 2, rev: 2 }, 0);
    await poll(async () => ((purger as unknown as { isRunning: boolean }).isRunning ? null : true), 20_000, 'purge pass');
    assert.ok(purger.purged > 0 && purger.purged <= 64, `purged ${purger.purged}`);
    assert.is(disk.size, keys.length - purger.purged);
  });
});

test('clearing units for a backfill deletes their keys only, keeps the kept ones, and reads only their ranges', async () => {
  const map = spreadMap(1);
  await withDisk(async (disk) => {
    const keys = Array.from({ length: 6000 }, (_, i) => `c${i}`);
    for (const k of keys) disk.set(k, v('x'), 0, 0);
    await disk.whenDurable();
    const unitOfKey = (k: string): number => bucketOfBinary(k, map.unitBits);
    const units = new Set([5, 6, 7, 100]);
    const inUnits = keys.filter((k) => units.has(unitOfKey(k)));
    const keep = inUnits[0]!;
    let read = 0;
    const counting = {
      hasBucketIndex: true,
      bucketKeys: (lo: number, hi: number, after: string | null, limit: number) => {
        const page = disk.bucketKeys(lo, hi, after, limit);
        read += page.keys.length;
        return page;
      },
      delete: (key: string) => disk.delete(key),
      scanKeys: () => assert.unreachable('a walk over every key'),
    } as unknown as KvEngine;
    await clearUnits(counting, units, { map: () => map, isKept: (_unit, key) => key === keep });
    assert.is(read, inUnits.length);
    for (const k of keys) assert.is(disk.get(k) !== null, !units.has(unitOfKey(k)) || k === keep, k);
  });
});

test.run();
