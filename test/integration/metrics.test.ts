import { suite } from '../helpers/suite.js';
import memjs from 'memjs';
import * as assert from 'uvu/assert';
import { connect as netConnect } from 'node:net';
import { once } from 'node:events';
import { connect } from '../../sdk/index.js';
import { spawnProxy } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll } from '../helpers/deadline.js';
import { assertNames, PROMTOOL_BIN, promtoolProblems, sampleOf } from '../helpers/prom-text.js';

const test = suite('metrics - every process');

/** `ws://host:port` (a node or proxy) or `http://host:port` (a manager) → its HTTP base. */
const httpBase = (address: string): string => address.replace(/^ws/, 'http');

async function scrape(address: string, path = '/metrics'): Promise<{ status: number; text: string; type: string }> {
  const res = await fetch(`${httpBase(address)}${path}`);
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') ?? '' };
}

/**
 * Check names with the project's own rules and with promtool. promtool is required, not
 * optional: `.ci/setup-system` installs it (Debian's `prometheus`), so a run without it
 * is a broken setup, not a pass.
 */
async function assertValid(text: string, component: string): Promise<void> {
  assertNames(text, component);
  const problems = await promtoolProblems(text);
  if (problems === undefined) assert.unreachable(`promtool is not installed at ${PROMTOOL_BIN}; run: bash .ci/setup-system (installs Debian's prometheus)`);
  assert.is(problems, null, `promtool check metrics (${component}): ${String(problems)}`);
}

/** Send memcached text commands and read until `END`/`STORED` lines arrive for each. */
async function memcachedTraffic(hostPort: string, n: number): Promise<void> {
  const [host, port] = [hostPort.slice(0, hostPort.lastIndexOf(':')), Number(hostPort.slice(hostPort.lastIndexOf(':') + 1))];
  const sock = netConnect(port, host);
  await once(sock, 'connect');
  let got = '';
  const done = new Promise<void>((resolve, reject) => {
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if ((got.match(/^(STORED|END)\r$/gm) ?? []).length >= 2 * n) resolve();
      if (/ERROR/.test(got)) reject(new Error(`memcached answered: ${got}`));
    });
  });
  let req = '';
  for (let i = 0; i < n; i++) req += `set mk${i} 0 0 1\r\nx\r\nget mk${i}\r\n`;
  sock.write(req);
  try {
    await done;
  } finally {
    sock.destroy();
  }
}

test('promtool is there and rejects the names the hand-built manager metrics had (so the checks below can fail)', async () => {
  const gauge = '# HELP pandakv_manager_nodes_total Nodes.\n# TYPE pandakv_manager_nodes_total gauge\npandakv_manager_nodes_total 3\n';
  const counter = '# HELP pandakv_manager_pushes Pushes.\n# TYPE pandakv_manager_pushes counter\npandakv_manager_pushes 3\n';
  const good = '# HELP pandakv_manager_pushes_total Pushes.\n# TYPE pandakv_manager_pushes_total counter\npandakv_manager_pushes_total 3\n';
  const verdicts = [await promtoolProblems(gauge), await promtoolProblems(counter), await promtoolProblems(good)];
  if (verdicts.includes(undefined)) assert.unreachable(`promtool is not installed at ${PROMTOOL_BIN}; run: bash .ci/setup-system (installs Debian's prometheus)`);
  assert.match(String(verdicts[0]), /non-counter metrics should not have "_total" suffix/);
  assert.match(String(verdicts[1]), /counter metrics should have "_total" suffix/);
  assert.is(verdicts[2], null);
});

test('manager, node and proxy serve valid Prometheus text whose counters move with traffic', async () => {
  await withCluster({ nodes: 1 }, async ({ manager, nodes }) => {
    const node = nodes[0]!;
    const proxy = await spawnProxy(['--insecure', '--map', manager.address]);
    try {
      const before = { node: await scrape(node.address), proxy: await scrape(proxy.address), manager: await scrape(manager.address) };
      assert.is(before.node.status, 200);
      assert.match(before.node.type, /^text\/plain; version=0\.0\.4/);
      const db = await connect({ map: manager.address });
      try {
        for (let i = 0; i < 20; i++) await db.set(`k${i}`, 'v');
        for (let i = 0; i < 20; i++) await db.get(`k${i}`);
        // The STATS op speaks the same snake_case as the metrics.
        const stats = await db.stats();
        assert.equal(Object.keys(stats), [node.address]);
        const keys = Object.keys(stats[node.address]!);
        assert.ok(keys.length >= 20, `STATS keys: ${keys.join(', ')}`);
        assert.equal(keys.filter((k) => !/^[a-z][a-z0-9]*(_[a-z0-9]+)*$/.test(k)), [], 'every STATS key is snake_case');
      } finally {
        await db.close();
      }
      const thin = await connect({ nodes: [proxy.address] });
      try {
        for (let i = 0; i < 10; i++) await thin.set(`p${i}`, 'v');
      } finally {
        await thin.close();
      }
      await memcachedTraffic(proxy.memcached!, 7);
      // The binary protocol, through a stock binary client (memjs): counted as memcached too.
      const mc = memjs.Client.create(proxy.memcached!, { retries: 0, timeout: 30, conntimeout: 60, logger: { log: () => undefined } });
      try {
        for (let i = 0; i < 3; i++) assert.is(await mc.set(`bk${i}`, 'v', {}), true);
        for (let i = 0; i < 3; i++) assert.is((await mc.get(`bk${i}`)).value?.toString(), 'v');
      } finally {
        mc.close();
      }

      const n = await scrape(node.address);
      await assertValid(n.text, 'node');
      const reqBefore = sampleOf(before.node.text, 'pandakv_node_requests_total') ?? -1;
      assert.ok((sampleOf(n.text, 'pandakv_node_requests_total') ?? 0) >= reqBefore + 40 + 10 + 14, 'node requests counted');
      assert.ok((sampleOf(n.text, 'pandakv_node_get_hits_total') ?? 0) >= 20 + 7, 'node get hits counted');
      assert.ok((sampleOf(n.text, 'pandakv_node_items') ?? 0) >= 37, 'node items');
      assert.ok((sampleOf(n.text, 'pandakv_node_connections_accepted_total') ?? 0) >= 2, 'node connections counted');
      assert.is(sampleOf(n.text, 'pandakv_node_is_fenced'), 0);
      assert.ok(sampleOf(n.text, 'process_cpu_user_seconds_total') !== null, 'process metrics on the node');

      const p = await scrape(proxy.address);
      await assertValid(p.text, 'proxy');
      assert.is(sampleOf(p.text, 'pandakv_proxy_requests_total', { op: 'SET', status: 'OK', protocol: 'native' }), 10, 'native requests');
      assert.is(sampleOf(p.text, 'pandakv_proxy_requests_total', { op: 'SET', status: 'OK', protocol: 'memcached' }), 7 + 3, 'memcached sets, text and binary');
      assert.is(sampleOf(p.text, 'pandakv_proxy_requests_total', { op: 'GET', status: 'OK', protocol: 'memcached' }), 7 + 3, 'memcached gets, text and binary');
      assert.is(sampleOf(p.text, 'pandakv_proxy_memcached_commands_total'), 14 + 6);
      assert.ok((sampleOf(p.text, 'pandakv_proxy_memcached_connections_total') ?? 0) >= 2, 'the text and the binary connection');
      assert.is(sampleOf(p.text, 'pandakv_proxy_clients', { protocol: 'memcached' }) !== null, true, 'memcached client gauge has a sample');
      assert.ok(sampleOf(p.text, 'process_resident_memory_bytes') !== null, 'process metrics on the proxy');

      const m = await poll(async () => {
        const s = await scrape(manager.address);
        return (sampleOf(s.text, 'pandakv_node_requests_total') ?? 0) > 0 ? s : null;
      }, 20_000, 'node load reported to the manager');
      await assertValid(m.text, 'manager');
      assert.is(sampleOf(m.text, 'pandakv_manager_is_leader'), 1);
      assert.is(sampleOf(m.text, 'pandakv_manager_nodes', { state: 'active' }), 1);
      assert.ok((sampleOf(m.text, 'pandakv_manager_heartbeats_total') ?? 0) > (sampleOf(before.manager.text, 'pandakv_manager_heartbeats_total') ?? 0), 'heartbeats move');
      assert.ok((sampleOf(m.text, 'pandakv_manager_map_pushes_total', { kind: 'full' }) ?? 0) >= 2, 'map pushes counted');
      assert.ok((sampleOf(m.text, 'pandakv_manager_map_subscribers') ?? 0) >= 1);
      assert.ok(sampleOf(m.text, 'process_cpu_user_seconds_total') !== null, 'process metrics on the manager');
    } finally {
      await proxy.stop('SIGKILL');
    }
  });
});

test('a node answers /healthz with JSON, other HTTP paths with 426, and unknown methods are not served metrics', async () => {
  await withCluster({ nodes: 1 }, async ({ nodes }) => {
    const node = nodes[0]!;
    const h = await poll(async () => {
      const r = await scrape(node.address, '/healthz');
      return r.status === 200 ? r : null;
    }, 20_000, 'node healthy');
    const body = JSON.parse(h.text) as { ok: boolean; isFenced: boolean; hasMap: boolean };
    assert.is(body.ok, true);
    assert.is(body.isFenced, false);
    assert.is(body.hasMap, true);
    assert.is((await scrape(node.address, '/nope')).status, 426);
    assert.is((await scrape(node.address, '/metrics?x=1')).status, 200);
    const post = await fetch(`${httpBase(node.address)}/metrics`, { method: 'POST', body: 'x'.repeat(10_000) });
    assert.is(post.status, 426);
  });
});

test.run();
