import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import { suite } from '../../helpers/suite.js';
import { Membership } from '../../../cluster/manager/membership.js';
import { MapWriter, type MapWriterHost } from '../../../cluster/manager/map-writer.js';
import { FileCfg } from '../../../cluster/manager/cfg/file-cfg.js';
import type { Cfg } from '../../../cluster/manager/cfg/cfg.js';
import type { ClusterState } from '../../../cluster/manager/cluster-state.js';
import { nodeKey } from '../../../cluster/manager/keys.js';
import { decodeRecord, encodeRecord, type NodeRecord } from '../../../cluster/manager/node-record.js';
import type { NodeRegistration } from '../../../shared/map-protocol.js';

const test = suite('cluster - a node registering while an operator changes its record');

const REG: NodeRegistration = { id: 'n1', address: 'ws://127.0.0.1:1', zone: 'z', weight: 1, peerKey: null };

/**
 * A failed node registers again while an operator adds it (sets 'active'): the operator's
 * write lands between the node's read of its record and its compare-and-set. `before`
 * runs the operator's write just before the first cas on the node's key.
 */
async function race(isAutoAdd: boolean, operatorState: NodeRecord['state']): Promise<NodeRecord> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-membership-'));
  const cfg = await FileCfg.open(join(dir, 'cfg.json'));
  try {
    const key = nodeKey(REG.id);
    const failedRev = await cfg.put(key, encodeRecord({ ...REG, state: 'failed' }));
    const state = { records: new Map([[REG.id, { ...REG, state: 'failed' as const, modRev: failedRev }]]), map: null } as unknown as ClusterState;
    let isRaced = false;
    const racing: Cfg = Object.assign(Object.create(cfg) as Cfg, {
      cas: async (k: string, value: Uint8Array | null, expectRev: number) => {
        if (k === key && !isRaced) {
          isRaced = true;
          const r = await cfg.cas(key, encodeRecord({ ...REG, state: operatorState }), failedRev);
          assert.ok(r.ok, 'the operator\'s write');
        }
        return cfg.cas(k, value, expectRev);
      },
      put: (...args: Parameters<Cfg['put']>) => cfg.put(...args),
      get: (k: string) => cfg.get(k),
      grantLease: (ms: number) => cfg.grantLease(ms),
    });
    const membership = new Membership(racing, state, 60_000, isAutoAdd);
    try {
      assert.is(await membership.register(REG), true, 'it had been failed');
      const stored = await cfg.get(key);
      return decodeRecord(stored!.value);
    } finally {
      membership.close();
    }
  } finally {
    await cfg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an add that lands while a failed node registers again is kept (not overwritten with "joining")', async () => {
  assert.is((await race(false, 'active')).state, 'active');
});

test('a node removed (leaving) meanwhile stays leaving; the registration changes nothing else', async () => {
  const r = await race(true, 'leaving');
  assert.is(r.state, 'leaving');
  assert.is(r.address, REG.address);
});

/**
 * The other order: the node's registration lands between the operator's read of the
 * record and the operator's compare-and-set.
 */
async function operatorAfterNode(onConflict: 'fail' | 'reread'): Promise<{ state: string; error: string | null }> {
  const dir = mkdtempSync(join(tmpdir(), 'pandakv-membership-'));
  const cfg = await FileCfg.open(join(dir, 'cfg.json'));
  try {
    const key = nodeKey(REG.id);
    const failedRev = await cfg.put(key, encodeRecord({ ...REG, state: 'failed' }));
    let isRaced = false;
    const racing = {
      cas: async (k: string, value: Uint8Array | null, expectRev: number) => {
        if (k === key && !isRaced) {
          isRaced = true;
          assert.ok((await cfg.cas(key, encodeRecord({ ...REG, address: 'ws://127.0.0.1:2', state: 'joining' }), failedRev)).ok, 'the registration');
        }
        return cfg.cas(k, value, expectRev);
      },
      get: (k: string) => cfg.get(k),
    } as unknown as Cfg;
    const records = new Map([[REG.id, { ...REG, state: 'failed' as const, modRev: failedRev }]]);
    const host = { cfg: racing, state: { records }, leadership: { isLeader: true, fence: {} } } as unknown as MapWriterHost;
    const writer = new MapWriter(host);
    const error = await writer.setState(records.get(REG.id)!, 'active', onConflict).then(() => null, (e: unknown) => (e as Error).message);
    const stored = decodeRecord((await cfg.get(key))!.value);
    assert.is(stored.address, 'ws://127.0.0.1:2', 'what the node registered is kept');
    return { state: stored.state, error };
  } finally {
    await cfg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('an operator\'s add that meets the node\'s own registration applies to the record as stored', async () => {
  assert.equal(await operatorAfterNode('reread'), { state: 'active', error: null });
  // Without rereading (the failure detector's writes), the conflict fails the change.
  const strict = await operatorAfterNode('fail');
  assert.is(strict.state, 'joining');
  assert.match(strict.error ?? '', /changed concurrently/);
});

test.run();
