import * as assert from 'uvu/assert';
import { suite } from '../../helpers/suite.js';
import { NodeMetrics } from '../../../cluster/node/node-metrics.js';

const test = suite('cluster - node /metrics read from STATS (node-metrics.ts)');

const conn = { open: 0, evicted: 0, refused: 0, preAuthTimeouts: 0, idleTimeouts: 0, readTimeouts: 0 };

function sampleOf(text: string, name: string): number | null {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? null : Number(m[1]);
}

test('figures kept in milliseconds are exported in seconds; others as they are', async () => {
  const metrics = new NodeMetrics({
    stats: () => ({ repl_handover_waits: 3, repl_handover_held_ms: 1500, repl_handover_held_ms_max: 250, engine: 'memory' }),
    requests: () => 7,
    conn: () => conn,
  });
  const text = await metrics.text();
  assert.is(sampleOf(text, 'pandakv_node_repl_handover_waits_total'), 3);
  assert.is(sampleOf(text, 'pandakv_node_repl_handover_held_seconds_total'), 1.5);
  assert.is(sampleOf(text, 'pandakv_node_repl_handover_held_seconds_max'), 0.25);
  assert.match(text, /^# TYPE pandakv_node_repl_handover_held_seconds_max gauge$/m);
  assert.is(sampleOf(text, 'pandakv_node_requests_total'), 7);
});

test.run();
