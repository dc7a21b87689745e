import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import type { NodeState } from '../../../shared/cluster-map.js';
import { nodeTransitions } from '../../../cluster/manager/node-events.js';
import type { NodeRecord } from '../../../cluster/manager/node-record.js';

const test = suite('cluster - node events');

function record(id: string, state: NodeState): NodeRecord {
  return { id, address: `ws://127.0.0.1:1/${id}`, zone: 'z', weight: 1, peerKey: '00', state };
}

function names(before: Record<string, NodeState>, after: NodeRecord[]): string[] {
  return nodeTransitions(new Map(Object.entries(before)), new Map(after.map((r) => [r.id, r]))).map((t) => `${t.name}:${String(t.fields['node'])}:${String(t.fields['phase'] ?? t.fields['state'] ?? '')}`);
}

test('a registration is a join, and an auto-added one also an add', () => {
  assert.equal(names({}, [record('a', 'joining')]), ['node-join:a:joining']);
  assert.equal(names({}, [record('a', 'active')]), ['node-join:a:active', 'node-add:a:']);
});

test('a joining node placed by an admin is an add; an unchanged one is nothing', () => {
  assert.equal(names({ a: 'joining' }, [record('a', 'active')]), ['node-add:a:']);
  assert.equal(names({ a: 'active' }, [record('a', 'active')]), []);
});

test('draining and forgetting are node-remove with their phase; failing is node-fail', () => {
  assert.equal(names({ a: 'active' }, [record('a', 'leaving')]), ['node-remove:a:drain']);
  assert.equal(names({ a: 'leaving' }, []), ['node-remove:a:done']);
  assert.equal(names({ a: 'active' }, [record('a', 'failed')]), ['node-fail:a:']);
});

test('a failed node that registers again is a returning join', () => {
  const t = nodeTransitions(new Map([['a', 'failed' as NodeState]]), new Map([['a', record('a', 'active')]]));
  assert.equal(t.map((x) => x.name), ['node-join', 'node-add']);
  assert.is(t[0]!.fields['isReturning'], true);
  assert.is(t[1]!.fields['from'], 'failed');
});

test('changes are listed in id order, whatever order the records came in', () => {
  assert.equal(names({ c: 'active', a: 'active' }, [record('c', 'failed'), record('b', 'joining'), record('a', 'leaving')]), [
    'node-remove:a:drain', 'node-join:b:joining', 'node-fail:c:',
  ]);
});

test.run();
