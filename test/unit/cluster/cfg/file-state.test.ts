import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { decodeState, encodeState } from '../../../../cluster/manager/cfg/file-codec.js';
import { FileState, eventRev } from '../../../../cluster/manager/cfg/file-state.js';
import { ErrorCode } from '../../../../shared/errors.js';

const test = suite('cluster - cfg file state');

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

test('cas checks the fence before the revision and reports the current modRev', () => {
  const s = new FileState();
  const lead = s.put('leader', b('me'), null);
  const m = s.put('map', b('v1'), null);
  assert.equal(s.cas('map', b('v2'), m, { key: 'leader', createRev: lead + 7 }, null), { ok: false, rev: m, isFenceBroken: true });
  assert.equal(s.cas('map', b('v2'), m - 1, { key: 'leader', createRev: lead }, null), { ok: false, rev: m, isFenceBroken: false });
  assert.equal(s.cas('map', b('v2'), m, { key: 'leader', createRev: lead }, null), { ok: true, rev: m + 1, isFenceBroken: false });
  assert.equal(s.cas('gone', null, 0, undefined, null), { ok: true, rev: s.rev, isFenceBroken: false }, 'deleting a missing key with 0 is a no-op');
  assert.is(s.pending.length, 3);
});

test('a stored value is a private copy of the caller\'s buffer', () => {
  const s = new FileState();
  const buf = Buffer.from('abc');
  s.put('k', buf, null);
  buf.fill(0);
  assert.equal([...s.entries.get('k')!.value], [0x61, 0x62, 0x63]);
});

test('ending a lease deletes all its keys at one revision and refuses later writes with it', () => {
  const s = new FileState();
  const lease = s.grantLease(1000);
  s.put('n/2', b('x'), lease.id);
  s.put('n/1', b('x'), lease.id);
  s.put('keep', b('x'), null);
  s.pending = [];
  assert.ok(s.endLease(lease.id));
  assert.equal(s.pending, [{ type: 'delete', key: 'n/1', modRev: 4 }, { type: 'delete', key: 'n/2', modRev: 4 }]);
  assert.equal([...s.entries.keys()], ['keep']);
  assert.is(s.endLease(lease.id), false);
  assert.throws(() => s.put('n/3', b('x'), lease.id), (err: Error & { code?: string }) => err.code === ErrorCode.NOT_FOUND);
});

test('sealing trims the history by whole revisions and moves the compaction point', () => {
  const s = new FileState();
  const lease = s.grantLease(1000);
  s.put('a', b('1'), lease.id);
  s.put('b', b('2'), lease.id);
  s.endLease(lease.id);
  s.put('c', b('3'), null);
  s.seal(2);
  // Revision 3 holds two deletes: keeping only one of them would lose an event.
  assert.equal(s.history.map(eventRev), [4]);
  assert.is(s.compactRev, 3);
  assert.is(s.eventsSince('', 2), null, 'history before the compaction point is gone');
  assert.equal(s.eventsSince('', 3)?.map(eventRev), [4]);
  assert.equal(s.eventsSince('x', 3), []);
});

test('compact clamps to the current revision and never moves back', () => {
  const s = new FileState();
  s.put('a', b('1'), null);
  s.put('a', b('2'), null);
  s.seal(10);
  s.compact(99);
  assert.equal([s.compactRev, s.history.length], [2, 0]);
  s.compact(1);
  assert.is(s.compactRev, 2);
});

test('the file codec round-trips binary values, leases and history', () => {
  const s = new FileState();
  const lease = s.grantLease(1500);
  s.put('bin', new Uint8Array([0, 255, 1, 254]), lease.id);
  s.put('ключ', b('unicode key'), null);
  s.delete('bin');
  s.put('bin', new Uint8Array([]), null);
  s.seal(10);
  const back = decodeState(encodeState(s), '/x/cfg.json');
  assert.equal(encodeState(back), encodeState(s));
  assert.equal([...back.entries.get('bin')!.value], []);
  assert.equal(back.leases.get(lease.id), { id: lease.id, ttlMs: 1500 });
  assert.equal(back.history.map(eventRev), [1, 2, 3, 4]);
  assert.equal([back.rev, back.nextLeaseId], [4, 2]);
});

test.run();
