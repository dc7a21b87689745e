import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { availableParallelism } from 'node:os';
import * as assert from 'uvu/assert';
import { suite } from '../helpers/suite.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';
import { sampleOf } from '../helpers/prom-text.js';
import { spawnProxy, type Spawned } from '../../bin/spawn.js';
import { readCpuPressure } from '../../shared/spare-cpu.js';

const test = suite('integration - the proxy polls only on spare cores');

const isLinux = process.platform === 'linux';

async function metrics(proxy: Spawned): Promise<string> {
  const res = await fetch(`${proxy.address.replace(/^ws/, 'http')}/metrics`);
  return res.text();
}

/** One memcached connection doing `count` gets one at a time (the load idle polling is for). */
async function getsOneByOne(address: string, count: number): Promise<void> {
  const [host, port] = address.split(':');
  const sock: Socket = netConnect(Number(port), host);
  sock.setNoDelay(true);
  sock.on('error', () => undefined);
  try {
    let got = '';
    let wake: (() => void) | null = null;
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      wake?.();
    });
    await withDeadline(once(sock, 'connect'), 5000, 'memcached connect');
    sock.write('set idle-poll 0 0 2\r\nok\r\n');
    for (let i = 0; i <= count; i++) {
      const end = i === 0 ? 'STORED\r\n' : 'END\r\n';
      await withDeadline(new Promise<void>((resolve) => {
        wake = () => {
          if (got.endsWith(end)) resolve();
        };
        wake();
      }), 5000, `memcached answer ${i}`);
      got = '';
      if (i < count) sock.write('get idle-poll\r\n');
    }
  } finally {
    sock.destroy();
  }
}

/** A process that keeps one core busy until killed. */
function busyLoop(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  for (const c of children) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    c.kill('SIGKILL');
    await once(c, 'exit');
  }
}

/** Poll the proxy's gate until it reads `open` (1) or closed (0). */
function gateIs(proxy: Spawned, open: 0 | 1, what: string): Promise<boolean> {
  return poll(async () => (sampleOf(await metrics(proxy), 'pandakv_proxy_idle_poll_open') === open ? true : null), 15_000, what);
}

function pollSeconds(text: string): number {
  return sampleOf(text, 'pandakv_proxy_idle_poll_seconds_total')!;
}

test('polls after traffic while cores are idle, stops once every core is busy, and resumes when they are free again', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  if (!isLinux) return;
  // Judged by idle time alone: the pressure check is the next test's.
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--idle-poll-pressure', '1']);
  const always = await spawnProxy(['--insecure', '--map', manager.address, '--idle-poll-spare', '0']);
  const busy: ChildProcess[] = [];
  try {
    const mc = proxy.memcached!;
    // Quiet machine: the gate opens, and one-at-a-time traffic leaves time polled in vain.
    await gateIs(proxy, 1, 'gate open on a quiet machine');
    await getsOneByOne(mc, 200);
    const polled = pollSeconds(await metrics(proxy));
    assert.ok(polled > 0, `polled ${polled} s after 200 gets`);
    const spare = sampleOf(await metrics(proxy), 'pandakv_proxy_spare_cores');
    assert.ok(spare !== null && spare >= 0 && spare <= availableParallelism(), `spare cores ${spare}`);

    // Every core busy: the gate closes, and the same traffic polls not at all.
    for (let i = 0; i < availableParallelism(); i++) busy.push(busyLoop());
    await gateIs(proxy, 0, 'gate closed with every core busy');
    const before = pollSeconds(await metrics(proxy));
    await getsOneByOne(mc, 200);
    const text = await metrics(proxy);
    assert.is(sampleOf(text, 'pandakv_proxy_idle_poll_open'), 0, 'still closed');
    assert.is(pollSeconds(text), before, 'no polling while the cores are busy');
    assert.ok(sampleOf(text, 'pandakv_proxy_spare_cores')! < 0.5);
    assert.is(sampleOf(text, 'pandakv_proxy_cpu_pressure'), null, 'the pressure check is off, so no pressure figure');
    // A proxy told to poll whatever the load keeps its gate open, and polls.
    const forcedBefore = pollSeconds(await metrics(always));
    await getsOneByOne(always.memcached!, 100);
    const forced = await metrics(always);
    assert.is(sampleOf(forced, 'pandakv_proxy_idle_poll_open'), 1);
    assert.is(sampleOf(forced, 'pandakv_proxy_spare_cores'), null, 'it measures nothing, so it reports nothing');
    assert.is(sampleOf(forced, 'pandakv_proxy_cpu_pressure'), null);
    assert.ok(pollSeconds(forced) > forcedBefore, 'polled with every core busy');

    // Cores free again: the gate reopens.
    await stopAll(busy);
    await gateIs(proxy, 1, 'gate open again');
    await getsOneByOne(mc, 50);
  } finally {
    await stopAll(busy);
    await always.stop();
    await proxy.stop();
  }
}));

test('the CPU pressure it reads (Linux PSI) rises while tasks wait for a CPU, the gate closes, and it reopens after', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  if (!isLinux || readCpuPressure() === null) return;
  // Almost no idle time asked for: the pressure decides.
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--idle-poll-spare', '0.001']);
  const busy: ChildProcess[] = [];
  try {
    await gateIs(proxy, 1, 'gate open on a quiet machine');
    // More busy loops than cores: some always wait.
    for (let i = 0; i <= availableParallelism(); i++) busy.push(busyLoop());
    await gateIs(proxy, 0, 'gate closed while tasks wait for a CPU');
    const text = await metrics(proxy);
    const pressure = sampleOf(text, 'pandakv_proxy_cpu_pressure');
    assert.ok(pressure !== null && pressure >= 0.3 && pressure <= 1, `cpu pressure ${pressure}`);
    const before = pollSeconds(text);
    await getsOneByOne(proxy.memcached!, 100);
    assert.is(pollSeconds(await metrics(proxy)), before, 'no polling while tasks wait');
    await stopAll(busy);
    await gateIs(proxy, 1, 'gate open again');
  } finally {
    await stopAll(busy);
    await proxy.stop();
  }
}));

test('with --idle-poll-us 0 there is no polling and no idle-poll figures', () => withCluster({ nodes: 1 }, async ({ manager }) => {
  const proxy = await spawnProxy(['--insecure', '--map', manager.address, '--idle-poll-us', '0']);
  try {
    await getsOneByOne(proxy.memcached!, 20);
    const text = await metrics(proxy);
    for (const name of ['pandakv_proxy_idle_poll_open', 'pandakv_proxy_idle_poll_seconds_total', 'pandakv_proxy_spare_cores']) {
      assert.is(sampleOf(text, name), null, name);
    }
  } finally {
    await proxy.stop();
  }
}));

test.run();
