import * as assert from 'uvu/assert';
import { type Backend, type CfgContext, WatchRecorder, bytes, describe, text } from './cfg-fixtures.js';

/** A contract case: a sentence and a body run on a fresh store of each backend. */
export type ContractCase = [name: string, body: (ctx: CfgContext, backend: Backend) => Promise<void>];

const WAIT_MS = 5000;

/** Keys, compare-and-set, fences, listings, watches and compaction. */
export const KV_CASES: ContractCase[] = [
  ['put, get and delete round-trip values with their revisions', async ({ cfg }) => {
    assert.is(await cfg.get('a'), null);
    const r1 = await cfg.put('a', bytes('one'));
    const e1 = await cfg.get('a');
    assert.ok(e1 !== null);
    assert.is(text(e1.value), 'one');
    assert.equal([e1.modRev, e1.createRev, e1.lease], [r1, r1, null]);
    const r2 = await cfg.put('a', bytes('two'));
    assert.ok(r2 > r1);
    const e2 = await cfg.get('a');
    assert.equal([e2?.modRev, e2?.createRev], [r2, r1], 'an update keeps createRev');
    await cfg.delete('a');
    assert.is(await cfg.get('a'), null);
    await cfg.delete('a');
    const r3 = await cfg.put('a', bytes('three'));
    assert.is((await cfg.get('a'))?.createRev, r3, 'a recreated key gets a new createRev');
  }],

  ['cas succeeds on the expected revision and reports the current one on conflict', async ({ cfg, peer }) => {
    const created = await cfg.cas('map', bytes('v1'), 0);
    assert.equal([created.ok, created.isFenceBroken], [true, false]);
    const again = await peer.cas('map', bytes('other'), 0);
    assert.equal(again, { ok: false, rev: created.rev, isFenceBroken: false }, 'must-not-exist fails on an existing key');
    const updated = await cfg.cas('map', bytes('v2'), created.rev);
    assert.ok(updated.ok && updated.rev > created.rev);
    const stale = await peer.cas('map', bytes('lost'), created.rev);
    assert.equal(stale, { ok: false, rev: updated.rev, isFenceBroken: false }, 'a stale revision fails');
    assert.is(text((await cfg.get('map'))!.value), 'v2');
    const wrongDelete = await cfg.cas('map', null, created.rev);
    assert.is(wrongDelete.ok, false);
    const deleted = await cfg.cas('map', null, updated.rev);
    assert.ok(deleted.ok);
    assert.is(await cfg.get('map'), null);
    const missing = await cfg.cas('map', bytes('x'), updated.rev);
    assert.equal(missing, { ok: false, rev: 0, isFenceBroken: false }, 'a missing key reports rev 0');
  }],

  ['concurrent must-not-exist writes let exactly one through', async ({ cfg, peer }) => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? cfg : peer).cas('once', bytes(`w${i}`), 0)));
    assert.is(results.filter((r) => r.ok).length, 1);
  }],

  ['a fenced write lands only while the fence key exists with the same createRev', async ({ cfg, peer }) => {
    const leaderRev = await cfg.put('leader', bytes('me'));
    const fence = { key: 'leader', createRev: leaderRev };
    const ok = await cfg.cas('map', bytes('v1'), 0, { fence });
    assert.ok(ok.ok);
    await peer.put('leader', bytes('me, updated'));
    const stillOk = await cfg.cas('map', bytes('v2'), ok.rev, { fence });
    assert.ok(stillOk.ok, 'an update of the fence key keeps its createRev');
    const wrong = await cfg.cas('map', bytes('v3'), stillOk.rev, { fence: { key: 'leader', createRev: leaderRev + 1000 } });
    assert.equal(wrong, { ok: false, rev: stillOk.rev, isFenceBroken: true });
    await peer.delete('leader');
    const gone = await cfg.cas('map', bytes('v3'), stillOk.rev, { fence });
    assert.equal(gone, { ok: false, rev: stillOk.rev, isFenceBroken: true }, 'the fence key is gone');
    await peer.put('leader', bytes('someone else'));
    const recreated = await cfg.cas('map', bytes('v3'), stillOk.rev, { fence });
    assert.equal(recreated.isFenceBroken, true, 'a recreated fence key has a new createRev');
    assert.is(text((await cfg.get('map'))!.value), 'v2');
  }],

  ['list returns the keys under a prefix, sorted, at the store revision', async ({ cfg }) => {
    await cfg.put('nodes/b', bytes('B'));
    await cfg.put('nodes/a', bytes('A'));
    await cfg.put('nodesX', bytes('not under nodes/'));
    const last = await cfg.put('other', bytes('o'));
    const listing = await cfg.list('nodes/');
    assert.equal(listing.entries.map((e) => `${e.key}=${text(e.value)}`), ['nodes/a=A', 'nodes/b=B']);
    assert.is(listing.rev, last);
    const everything = await cfg.list('');
    assert.equal(everything.entries.map((e) => e.key), ['nodes/a', 'nodes/b', 'nodesX', 'other']);
    assert.equal((await cfg.list('none/')).entries, []);
  }],

  ['a watch from a revision delivers exactly the later changes under its prefix, in order', async ({ cfg, peer }) => {
    await cfg.put('w/a', bytes('1'));
    const from = await cfg.put('w/b', bytes('2'));
    await cfg.put('w/a', bytes('3'));
    await cfg.put('elsewhere', bytes('x'));
    await cfg.delete('w/b');
    const rec = new WatchRecorder(peer.watch('w/', from));
    try {
      await rec.untilEvents(2, WAIT_MS);
      const live = await cfg.put('w/c', bytes('4'));
      await rec.untilEvents(3, WAIT_MS);
      const [first, second] = [from + 1, from + 3];
      assert.equal(rec.events.map(describe), [`put w/a=3@${first}`, `delete w/b@${second}`, `put w/c=4@${live}`]);
      assert.equal(rec.resets, []);
      assert.is(rec.watch.rev, live);
    } finally {
      await rec.close();
    }
  }],

  ['a watch whose start revision was compacted emits a reset with the current state, then goes on', async ({ cfg, peer }) => {
    const old = await cfg.put('c/a', bytes('1'));
    await cfg.put('c/b', bytes('2'));
    await cfg.delete('c/a');
    const now = await cfg.put('c/b', bytes('3'));
    await cfg.compact(now);
    const rec = new WatchRecorder(peer.watch('c/', old));
    try {
      await rec.until(() => rec.resets.length > 0, WAIT_MS, 'a reset');
      const reset = rec.resets[0]!;
      assert.equal(reset.entries.map((e) => `${e.key}=${text(e.value)}`), ['c/b=3']);
      assert.ok(reset.rev >= now);
      assert.equal(rec.events, [], 'no event from the compacted range is replayed');
      const next = await cfg.put('c/c', bytes('4'));
      await rec.untilEvents(1, WAIT_MS);
      assert.equal(rec.events.map(describe), [`put c/c=4@${next}`]);
    } finally {
      await rec.close();
    }
  }],

  ['a watch from the current revision sees only new writes and stops after close', async ({ cfg }) => {
    const { rev } = await cfg.list('');
    const rec = new WatchRecorder(cfg.watch('', rev));
    await cfg.put('x', bytes('1'));
    await rec.untilEvents(1, WAIT_MS);
    await rec.close();
    await cfg.put('x', bytes('2'));
    // A second watch proves the write was delivered to watchers that were still open.
    const probe = new WatchRecorder(cfg.watch('', rev));
    try {
      await probe.untilEvents(2, WAIT_MS);
    } finally {
      await probe.close();
    }
    assert.is(rec.events.length, 1);
  }],
];
