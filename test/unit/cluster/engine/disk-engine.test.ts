import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { suite } from '../../../helpers/suite.js';
import { poll } from '../../../helpers/deadline.js';
import * as assert from 'uvu/assert';
import { Status } from '../../../../shared/status.js';
import { MemoryEngine } from '../../../../cluster/node/engine/memory-engine.js';
import { DiskEngine } from '../../../../cluster/node/engine/disk-engine.js';
import { DiskFormatError } from '../../../../cluster/node/engine/disk-store.js';
import type { DiskEngineOptions } from '../../../../cluster/node/engine/disk-options.js';
import type { KvEngine } from '../../../../cluster/node/engine/types.js';

const test = suite('cluster - disk engine');

const T0_MS = 1_700_000_000_000;

function bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

function text(v: Uint8Array | undefined): string {
  return v === undefined ? '<none>' : Buffer.from(v).toString('latin1');
}

/** A disk engine in a fresh temp dir; `dispose` closes it and removes the dir. */
async function withDisk(fn: (engine: DiskEngine, dir: string) => Promise<void> | void, options: Partial<DiskEngineOptions> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-disk-test-'));
  const engine = new DiskEngine({ path: join(dir, 'engine'), nodeId: 'node-a', expirySweepIntervalMs: 0, ...options });
  try {
    await fn(engine, dir);
  } finally {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('set, get, add, replace, cas, append, prepend, delete and counters behave as in the memory engine', async () => {
  await withDisk(async (engine) => {
    const r = engine.set('k', bytes('hello'), 42, 0);
    assert.is(r.status, Status.OK);
    const item = engine.get('k');
    assert.is(text(item?.value), 'hello');
    assert.is(item?.flags, 42);
    assert.is(item?.cas, r.cas);
    assert.is(engine.add('k', bytes('x'), 0, 0).status, Status.NOT_STORED);
    assert.is(engine.replace('absent', bytes('x'), 0, 0).status, Status.NOT_STORED);
    assert.is(engine.set('k', bytes('x'), 0, 0, r.cas + 1000).status, Status.EXISTS);
    assert.is(engine.set('absent', bytes('x'), 0, 0, 5).status, Status.NOT_FOUND);
    assert.is(engine.append('k', bytes('!')).status, Status.OK);
    assert.is(engine.prepend('k', bytes('>')).status, Status.OK);
    assert.is(text(engine.get('k')?.value), '>hello!');
    assert.is(engine.get('k')?.flags, 42);
    assert.is(engine.incr('n', 1n).status, Status.NOT_FOUND);
    assert.is(engine.incr('n', 5n, 10n).value, 10n);
    assert.is(engine.incr('n', 5n).value, 15n);
    assert.is(engine.decr('n', 100n).value, 0n);
    assert.is(engine.incr('k', 1n).status, Status.BAD_REQUEST);
    assert.is(engine.delete('k'), Status.OK);
    assert.is(engine.delete('k'), Status.NOT_FOUND);
    assert.is(engine.get('k'), null);
    assert.is(engine.set('', bytes('x'), 0, 0).status, Status.BAD_REQUEST);
    assert.is(engine.set('k'.repeat(251), bytes('x'), 0, 0).status, Status.BAD_REQUEST);
    assert.is(engine.set('k', bytes('x'), -1, 0).status, Status.BAD_REQUEST);
    await engine.whenDurable();
    assert.is(engine.size, 1);
  });
});

test('items, cas and unit marks survive a close and reopen; the marks are those of the commit', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-disk-test-'));
  try {
    const path = join(dir, 'engine');
    const seqs = new Map<number, number>([[3, 7], [9, 1]]);
    const a = new DiskEngine({ path, nodeId: 'node-a' });
    a.setUnitMarkSource({ unitSeqs: () => seqs, printAt: (u, s) => `p${u}-${s}`, historySince: () => null });
    for (let i = 0; i < 1000; i++) a.set(`key:${i}`, bytes(`v${i}`), i, 0);
    const last = a.set('last', bytes('x'), 0, 0).cas;
    await a.whenDurable();
    seqs.set(3, 8);
    seqs.delete(9);
    a.set('key:1', bytes('changed'), 0, 0);
    await a.close();
    const b = new DiskEngine({ path, nodeId: 'node-a' });
    try {
      assert.is(b.size, 1001);
      assert.is(text(b.get('key:500')?.value), 'v500');
      assert.is(b.get('key:500')?.flags, 500);
      assert.is(text(b.get('key:1')?.value), 'changed');
      assert.equal(b.unitMarks(), [[3, 8, 'p3-8']]);
      assert.ok(b.set('after', bytes('y'), 0, 0).cas > last, 'cas keeps growing after a restart');
    } finally {
      await b.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('whenDurable waits for the commit holding every write so far; concurrent waiters share one commit', async () => {
  await withDisk(async (engine) => {
    const before = engine.stats().commits ?? 0;
    const waits: Array<Promise<void>> = [];
    for (let i = 0; i < 64; i++) {
      engine.set(`k${i}`, bytes('v'), 0, 0);
      waits.push(engine.whenDurable());
    }
    await Promise.all(waits);
    const used = (engine.stats().commits ?? 0) - before;
    assert.ok(used >= 1 && used <= 2, `64 persisted writes took ${used} commits`);
    await engine.whenDurable();
  }, { commitIntervalMs: 20 });
});

test('commits that writers wait on run inline, others on the writer thread; a slow disk sends them back to the thread', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-disk-test-'));
  try {
    const path = join(dir, 'engine');
    // A limit no commit reaches, whatever this machine's disk: every waited-on commit runs inline.
    let engine = new DiskEngine({ path, nodeId: 'node-a', expirySweepIntervalMs: 0, commitIntervalMs: 1, inlineCommitMaxMs: 60_000 });
    // Nobody waits: the timer's commit goes to lmdb's writer thread.
    engine.set('quiet', bytes('q'), 0, 0);
    await poll(async () => ((engine.stats().commits ?? 0) >= 1 ? true : null), 10_000, 'the timer commit', 5);
    assert.is(engine.stats().inlineCommits, 0);
    // Persist writers wait: their commits run on the event loop, and are on disk when they resolve.
    for (let round = 0; round < 5; round++) {
      const waits: Array<Promise<void>> = [];
      for (let i = 0; i < 16; i++) {
        engine.set(`p${round}:${i}`, bytes(`v${round}`), 0, 0);
        waits.push(engine.whenDurable());
      }
      await Promise.all(waits);
    }
    assert.is(engine.stats().inlineCommits, 5);
    await engine.close();
    engine = new DiskEngine({ path, nodeId: 'node-a', expirySweepIntervalMs: 0, commitIntervalMs: 1, inlineCommitMaxMs: 1e-9 });
    assert.is(text(engine.get('p4:15')?.value), 'v4');
    assert.is(text(engine.get('quiet')?.value), 'q');
    // Every inline commit takes longer than this limit: after the first, 1 in 16 runs inline.
    for (let round = 0; round < 40; round++) {
      engine.set(`s${round}`, bytes('s'), 0, 0);
      await engine.whenDurable();
    }
    const inline = engine.stats().inlineCommits ?? 0;
    assert.ok(inline >= 2 && inline <= 4, `inline commits past the limit: ${inline} of ${engine.stats().commits}`);
    assert.is(text(engine.get('s39')?.value), 's');
    await engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scan merges uncommitted writes and deletes with the disk, in byte order, with limit and resume', async () => {
  await withDisk(async (engine) => {
    for (const k of ['b', 'd', 'f', 'h']) engine.set(k, bytes(k), 0, 0);
    await engine.whenDurable();
    engine.set('a', bytes('a'), 0, 0);
    engine.set('e', bytes('e'), 0, 0);
    engine.delete('f');
    engine.set('d', bytes('D'), 0, 0);
    engine.set('\xff', bytes('z'), 0, 0);
    const all = engine.scan('', null, 100);
    assert.equal(all.entries.map((e) => `${e.key}=${text(e.value)}`), ['a=a', 'b=b', 'd=D', 'e=e', 'h=h', '\xff=z']);
    const first = engine.scan('b', 'h', 2);
    assert.equal(first.entries.map((e) => e.key), ['b', 'd']);
    assert.is(first.nextKey, 'e');
    const rest = engine.scan(first.nextKey!, 'h', 2);
    assert.equal(rest.entries.map((e) => e.key), ['e']);
    assert.is(rest.nextKey, null);
    assert.equal(engine.scanKeys('c', 10).keys, ['d', 'e', 'h', '\xff']);
    const page = engine.page('b', 10, 100, (k) => k !== 'e');
    assert.equal(page.items.map((i) => i.key), ['d', 'h', '\xff']);
  });
});

test('TTLs expire on access and the background pass reclaims expired items from the disk', async () => {
  let now = T0_MS;
  await withDisk(async (engine) => {
    for (let i = 0; i < 50; i++) engine.set(`t${i}`, bytes('x'), 0, 10);
    engine.set('forever', bytes('x'), 0, 0);
    await engine.whenDurable();
    assert.is(engine.size, 51);
    now += 11_000;
    assert.is(engine.get('t0'), null);
    assert.is(engine.touch('t1', 100), Status.NOT_FOUND);
    engine.sweepExpired();
    for (let i = 0; i < 100 && engine.size > 1; i++) await new Promise((r) => setImmediate(r));
    assert.is(engine.size, 1);
    await engine.whenDurable();
    assert.equal(engine.scanKeys('', 100).keys, ['forever']);
    assert.ok((engine.stats().expired) >= 50);
  }, { nowMs: () => now, expirySweepSliceKeys: 7 });
});

test('flush drops every item, on disk too', async () => {
  await withDisk(async (engine) => {
    for (let i = 0; i < 100; i++) engine.set(`k${i}`, bytes('x'), 0, 0);
    await engine.whenDurable();
    engine.flush();
    assert.is(engine.get('k1'), null);
    engine.set('new', bytes('y'), 0, 0);
    assert.equal(engine.scanKeys('', 1000).keys, ['new']);
    await engine.whenDurable();
    assert.equal(engine.scanKeys('', 1000).keys, ['new']);
    assert.is(engine.size, 1);
  });
});

test('reads of five times the read cache budget come back right from the disk', async () => {
  await withDisk(async (engine) => {
    const value = (i: number): string => `${i}:`.padEnd(1000, String.fromCharCode(97 + (i % 26)));
    const n = 5 * 1024 + 200; // 1 MiB of cache, ~5 MiB of values
    for (let i = 0; i < n; i++) engine.set(`key:${i}`, bytes(value(i)), i, 0);
    await engine.whenDurable();
    let wrong = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < n; i += 1) if (text(engine.get(`key:${i}`)?.value) !== value(i) || engine.get(`key:${i}`)?.flags !== i) wrong++;
    }
    assert.is(wrong, 0);
    const s = engine.stats();
    assert.ok((s.cacheBytes ?? 0) <= 1024 * 1024, `cache ${s.cacheBytes} within 1 MiB`);
    assert.ok(s.misses > n, 'most reads went to the disk');
  }, { memorySizeMb: 1 });
});

test('a data dir of another node, a foreign file and a file cut short are refused at open', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-disk-test-'));
  try {
    const path = join(dir, 'engine');
    const a = new DiskEngine({ path, nodeId: 'node-a' });
    for (let i = 0; i < 2000; i++) a.set(`key:${i}`, bytes('v'.repeat(200)), 0, 0);
    await a.close();
    const refused = (p: string, nodeId: string): string => {
      try {
        const e = new DiskEngine({ path: p, nodeId });
        void e.close();
      } catch (err) {
        assert.instance(err, DiskFormatError);
        return (err as Error).message;
      }
      throw new Error('opened');
    };
    assert.match(refused(path, 'node-b'), /belongs to node node-a/);
    const size = statSync(join(path, 'data.mdb')).size;
    truncateSync(join(path, 'data.mdb'), Math.floor(size / 2));
    assert.match(refused(path, 'node-a'), /cut short/);
    const foreign = join(dir, 'foreign');
    rmSync(foreign, { recursive: true, force: true });
    writeFileSync(join(dir, 'x'), '');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(foreign);
    writeFileSync(join(foreign, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    assert.match(refused(foreign, 'node-a'), /not an lmdb file/);
    const other = join(dir, 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'notes.txt'), 'hello');
    assert.match(refused(other, 'node-a'), /not a PandaKV disk engine/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('past the size quota writes fail with NO_SPACE, reads go on, and writes resume once there is room', async () => {
  await withDisk(async (engine) => {
    engine.set('kept', bytes('v'), 0, 0);
    await engine.whenDurable();
    let status: number = Status.OK;
    let written = 0;
    for (let i = 0; i < 200_000 && status === Status.OK; i++) {
      status = engine.set(`fill:${i}`, bytes('x'.repeat(1000)), 0, 0).status;
      if (status !== Status.OK) break;
      written++;
      if (i % 64 === 0) await engine.whenDurable().catch(() => undefined);
    }
    assert.is(status, Status.NO_SPACE);
    assert.is(engine.stats().noSpace, 1);
    assert.is(text(engine.get('kept')?.value), 'v');
    assert.is(engine.delete('kept'), Status.NO_SPACE);
    let err: unknown = null;
    await engine.whenDurable().catch((e: unknown) => { err = e; });
    assert.is((err as { code?: string } | null)?.code, 'KV_ERR_NO_SPACE');
    assert.ok(written > 0);
  }, { maxDiskBytes: 2 * 1024 * 1024, commitRetryMs: 5 });
});

/** Random operation sequences give the same answers on both engines. */
test('random operation sequences agree with the memory engine', async () => {
  const keyArb = fc.constantFrom('a', 'b', 'c', 'k1', 'k2', '\xfe', 'zz');
  const valueArb = fc.constantFrom('', '1', '42', 'x', 'hello', '18446744073709551615');
  const op = fc.oneof(
    fc.record({ t: fc.constant('set'), k: keyArb, v: valueArb, f: fc.nat(5), e: fc.constantFrom(0, 0, 5, -1) }),
    fc.record({ t: fc.constant('add'), k: keyArb, v: valueArb }),
    fc.record({ t: fc.constant('replace'), k: keyArb, v: valueArb }),
    fc.record({ t: fc.constant('append'), k: keyArb, v: valueArb }),
    fc.record({ t: fc.constant('prepend'), k: keyArb, v: valueArb }),
    fc.record({ t: fc.constant('delete'), k: keyArb }),
    fc.record({ t: fc.constant('incr'), k: keyArb, d: fc.bigInt({ min: 0n, max: 255n }), i: fc.option(fc.bigInt({ min: 0n, max: 255n })) }),
    fc.record({ t: fc.constant('decr'), k: keyArb, d: fc.bigInt({ min: 0n, max: 255n }) }),
    fc.record({ t: fc.constant('touch'), k: keyArb, e: fc.constantFrom(0, 3, -1) }),
    fc.record({ t: fc.constant('gat'), k: keyArb, e: fc.constantFrom(0, 3) }),
    fc.record({ t: fc.constant('tick'), s: fc.nat(6) }),
    fc.record({ t: fc.constant('commit') }),
  );
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-disk-test-'));
  let run = 0;
  try {
    await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
      let now = T0_MS;
      const mem = new MemoryEngine({ nowMs: () => now });
      const disk = new DiskEngine({ path: join(dir, `e${run++}`), nodeId: 'n', nowMs: () => now, expirySweepIntervalMs: 0 });
      try {
        const apply = (e: KvEngine, o: Record<string, unknown>): unknown => {
          const k = o.k as string;
          const v = bytes((o.v as string | undefined) ?? '');
          switch (o.t) {
            case 'set': return e.set(k, v, o.f as number, o.e as number).status;
            case 'add': return e.add(k, v, 0, 0).status;
            case 'replace': return e.replace(k, v, 0, 0).status;
            case 'append': return e.append(k, v).status;
            case 'prepend': return e.prepend(k, v).status;
            case 'delete': return e.delete(k);
            case 'incr': { const r = e.incr(k, o.d as bigint, (o.i as bigint | null) ?? undefined); return [r.status, r.value]; }
            case 'decr': { const r = e.decr(k, o.d as bigint); return [r.status, r.value]; }
            case 'touch': return e.touch(k, o.e as number);
            case 'gat': return text(e.getAndTouch(k, o.e as number)?.value);
            default: return null;
          }
        };
        for (const o of ops) {
          if (o.t === 'tick') {
            now += (o as { s: number }).s * 1000;
            continue;
          }
          if (o.t === 'commit') {
            await disk.whenDurable();
            continue;
          }
          assert.equal(apply(disk, o), apply(mem, o), JSON.stringify(o, (_, x) => (typeof x === 'bigint' ? String(x) : x)));
        }
        const view = (e: KvEngine): string[] => e.scan('', null, 100).entries.map((x) => `${x.key}=${text(x.value)}/${x.flags}`);
        assert.equal(view(disk), view(mem));
      } finally {
        await disk.close();
      }
    }), { numRuns: 150 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
