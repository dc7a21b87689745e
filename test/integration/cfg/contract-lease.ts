import * as assert from 'uvu/assert';
import { ErrorCode } from '../../../shared/errors.js';
import { rejection, withDeadline } from '../../helpers/deadline.js';
import { WatchRecorder, bytes, nextLost } from './cfg-fixtures.js';
import type { ContractCase } from './contract-kv.js';

/** Lease expiry can take a while on etcd (its lessor checks every 500 ms). */
const EXPIRY_MS = 8000;
const WAIT_MS = 5000;

/** Leases and leader election. */
export const LEASE_CASES: ContractCase[] = [
  ['an expired lease deletes its keys, the watcher sees it and the holder gets "lost"', async ({ cfg, peer }, backend) => {
    const lease = await cfg.grantLease(backend.leaseTtlMs);
    assert.ok(lease.ttlMs >= backend.leaseTtlMs);
    const lost = nextLost(lease, EXPIRY_MS, 'the lease');
    const rev = await cfg.put('live/n1', bytes('up'), { lease });
    assert.is((await cfg.get('live/n1'))?.lease, lease.id);
    const rec = new WatchRecorder(peer.watch('live/', rev));
    try {
      await rec.untilEvents(1, EXPIRY_MS);
      assert.equal(rec.events.map((e) => e.type === 'delete' && e.key), ['live/n1']);
      assert.is(await cfg.get('live/n1'), null);
      assert.ok((await lost) instanceof Error);
      assert.ok(lease.isEnded);
      const late = await rejection(cfg.put('live/n1', bytes('again'), { lease }));
      assert.is(late.code, ErrorCode.NOT_FOUND, 'writing with an expired lease fails');
      assert.is((await rejection(lease.keepAlive())).code, ErrorCode.NOT_FOUND);
    } finally {
      await rec.close();
    }
  }],

  ['a lease kept alive outlives one that is not, and revoking it deletes its keys at once', async ({ cfg }, backend) => {
    const kept = await cfg.grantLease(backend.leaseTtlMs);
    const idle = await cfg.grantLease(backend.leaseTtlMs);
    kept.startKeepAlive(Math.floor(kept.ttlMs / 4));
    await cfg.put('live/kept', bytes('1'), { lease: kept });
    const rev = await cfg.put('live/idle', bytes('1'), { lease: idle });
    const rec = new WatchRecorder(cfg.watch('live/', rev));
    try {
      await rec.untilEvents(1, EXPIRY_MS);
      assert.equal(rec.events.map((e) => e.type === 'delete' && e.key), ['live/idle']);
      assert.ok((await cfg.get('live/kept')) !== null, 'the refreshed lease still holds its key');
      assert.is(kept.isEnded, false);
      await kept.revoke();
      await rec.untilEvents(2, WAIT_MS);
      assert.is(rec.events[1]!.type === 'delete' && rec.events[1]!.key, 'live/kept');
      await kept.revoke();
    } finally {
      await rec.close();
    }
  }],

  ['the second participant leads only after the first resigns, and the old fence fails', async ({ cfg, peer }, backend) => {
    const leaseA = await cfg.grantLease(backend.leaseTtlMs * 5);
    const leaseB = await peer.grantLease(backend.leaseTtlMs * 5);
    leaseA.startKeepAlive(leaseA.ttlMs / 4);
    leaseB.startKeepAlive(leaseB.ttlMs / 4);
    assert.is(await cfg.leader('planner'), null);
    const a = await withDeadline(cfg.campaign('planner', 'manager-a', leaseA), WAIT_MS, 'A leads');
    assert.ok(a.isLeader);
    const aLost: Error[] = [];
    a.on('lost', (err) => { aLost.push(err); });
    const { rev } = await cfg.list('');
    const rec = new WatchRecorder(cfg.watch('', rev));
    let isBLeading = false;
    const pendingB = peer.campaign('planner', 'manager-b', leaseB).then((l) => { isBLeading = true; return l; });
    try {
      await rec.untilEvents(1, WAIT_MS);
      const map = await cfg.cas('map', bytes('from A'), 0, { fence: a.fence });
      assert.ok(map.ok, 'the leader writes with its fence');
      assert.is(await peer.leader('planner'), 'manager-a');
      assert.is(isBLeading, false, 'B waits while A leads');
      await a.resign();
      assert.is(a.isLeader, false);
      const b = await withDeadline(pendingB, WAIT_MS, 'B leads after A resigned');
      assert.is(await cfg.leader('planner'), 'manager-b');
      assert.equal(aLost, [], 'resigning is not losing');
      const late = await cfg.cas('map', bytes('late A'), map.rev, { fence: a.fence });
      assert.equal([late.ok, late.isFenceBroken], [false, true], 'the deposed leader is fenced off');
      const fromB = await peer.cas('map', bytes('from B'), map.rev, { fence: b.fence });
      assert.ok(fromB.ok);
      await b.resign();
      assert.is(await cfg.leader('planner'), null);
    } finally {
      await rec.close();
      await leaseA.revoke();
      await leaseB.revoke();
    }
  }],

  ['when the leader\'s lease is revoked the next participant leads and the old leadership is lost', async ({ cfg, peer }, backend) => {
    const leaseA = await cfg.grantLease(backend.leaseTtlMs * 5);
    const leaseB = await peer.grantLease(backend.leaseTtlMs * 5);
    leaseB.startKeepAlive(leaseB.ttlMs / 4);
    const a = await withDeadline(cfg.campaign('planner', 'manager-a', leaseA), WAIT_MS, 'A leads');
    const aLost = nextLost(a, WAIT_MS, 'A\'s leadership');
    const pendingB = peer.campaign('planner', 'manager-b', leaseB);
    try {
      await leaseA.revoke();
      const b = await withDeadline(pendingB, WAIT_MS, 'B leads after A\'s lease was revoked');
      assert.ok((await aLost) instanceof Error);
      assert.is(a.isLeader, false);
      assert.is(await peer.leader('planner'), 'manager-b');
      const late = await cfg.cas('map', bytes('late A'), 0, { fence: a.fence });
      assert.equal([late.ok, late.isFenceBroken], [false, true]);
      assert.ok((await peer.cas('map', bytes('B'), 0, { fence: b.fence })).ok);
    } finally {
      await leaseB.revoke();
    }
  }],

  ['a campaign fails when its lease has ended, and one lease cannot campaign twice', async ({ cfg }, backend) => {
    const lease = await cfg.grantLease(backend.leaseTtlMs * 5);
    const first = await withDeadline(cfg.campaign('solo', 'one', lease), WAIT_MS, 'solo leads');
    assert.is((await rejection(cfg.campaign('solo', 'two', lease))).code, ErrorCode.EXISTS);
    await first.resign();
    await lease.revoke();
    assert.is((await rejection(cfg.campaign('solo', 'three', lease))).code, ErrorCode.NOT_FOUND);
  }],
];
