import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { Membership } from '../../../../cluster/manager/membership.js';
import type { Cfg } from '../../../../cluster/manager/cfg/cfg.js';
import type { ClusterState } from '../../../../cluster/manager/cluster-state.js';
import type { NodeLoadReport } from '../../../../shared/map-protocol.js';

const test = suite("dashboard - the manager keeps when a node's heartbeat last said it was fenced");

const load = (isFenced: boolean | undefined): NodeLoadReport => ({
  ops: 1, items: 0, memoryBytes: 0, p50Us: 0, p99Us: 0, hintsPending: 0, ...(isFenced === undefined ? {} : { isFenced }),
});

test('a fence reported by one heartbeat outlives the next report; never reported: no fencedAt', async () => {
  // No lease here: heartbeat records the report, then answers false (no renewal).
  const m = new Membership({} as Cfg, { records: new Map() } as unknown as ClusterState, 1000, true);
  assert.is(await m.heartbeat('a', 1, undefined, load(false)), false);
  assert.is(m.load.get('a')?.fencedAt, undefined);
  await m.heartbeat('a', 1, undefined, load(undefined));
  assert.is(m.load.get('a')?.fencedAt, undefined, 'an older node reports no fence');
  const before = Date.now();
  await m.heartbeat('a', 1, undefined, load(true));
  const fencedAt = m.load.get('a')?.fencedAt;
  assert.ok(fencedAt !== undefined && fencedAt >= before);
  assert.is(m.load.get('a')?.isFenced, true);
  await m.heartbeat('a', 1, undefined, load(false));
  assert.is(m.load.get('a')?.isFenced, false, 'the flag is the latest report');
  assert.is(m.load.get('a')?.fencedAt, fencedAt, 'when it was last fenced is kept');
  // Per node.
  await m.heartbeat('b', 1, undefined, load(false));
  assert.is(m.load.get('b')?.fencedAt, undefined);
  m.close();
});

test.run();
