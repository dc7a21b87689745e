import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { connect, type PandaClient } from '../../sdk/index.js';
import { spawnProxy, type Spawned } from '../../bin/spawn.js';
import { withCluster } from '../helpers/cluster.js';
import { poll, until, withDeadline } from '../helpers/deadline.js';
import { replicatedCluster, seqOf } from '../helpers/replicated.js';
import { ErrorCode } from '../../shared/errors.js';

// The proxy's send window holds requests in the lane while the node has not answered
// (docs/proxy.md). These tests run it against real nodes that are paused or killed under
// a flood of writes and count what was lost: nothing acknowledged may be.

const test = suite('integration - proxy send window under node faults');

const WRITERS = 48;
const KEYS_PER_WRITER = 40;

/**
 * `WRITERS` loops, each setting its own keys in turn to `<writer>:<seq>` through `db`
 * until stopped. Remembers per key the last acknowledged and the last attempted seq.
 */
class Flood {
  readonly acked = new Map<string, number>();
  readonly attempted = new Map<string, number>();
  acks = 0;
  errors = 0;
  readonly codes = new Map<string, number>();
  /** The first message seen with each code. */
  readonly firstMessages = new Map<string, string>();
  private isRunning = true;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly db: PandaClient, private readonly durability: 'none' | 'majority') {
    for (let w = 0; w < WRITERS; w++) this.loops.push(this.loop(w));
  }

  private async loop(w: number): Promise<void> {
    for (let seq = 1; this.isRunning; seq++) {
      const key = `sw:${w}:${seq % KEYS_PER_WRITER}`;
      this.attempted.set(key, seq);
      try {
        await this.db.set(key, `${w}:${seq}`, { durability: this.durability });
        this.acked.set(key, seq);
        this.acks++;
      } catch (err) {
        this.errors++;
        const code = (err as { code?: string }).code ?? 'none';
        this.codes.set(code, (this.codes.get(code) ?? 0) + 1);
        if (!this.firstMessages.has(code)) this.firstMessages.set(code, (err as Error).message);
      }
    }
  }

  /** Stop the writers; every write in flight must settle (answer or error) in time. */
  async stop(): Promise<void> {
    this.isRunning = false;
    await withDeadline(Promise.all(this.loops), 20_000, 'every write in flight settles');
  }

  /** Keys whose value is older than their last acknowledged write, or newer than any written. */
  async lost(reader: PandaClient): Promise<string[]> {
    const keys = [...this.acked.keys()];
    const values = await reader.getMany(keys);
    const bad: string[] = [];
    keys.forEach((k, i) => {
      const v = values[i];
      const seq = seqOf(v === null || v === undefined ? null : Buffer.from(v).toString());
      if (seq < this.acked.get(k)! || seq > this.attempted.get(k)!) bad.push(`${k}: read ${seq}, acknowledged ${this.acked.get(k)!}`);
    });
    return bad;
  }

  report(): string {
    return `${this.acks} acknowledged, ${this.errors} failed (${[...this.codes].map(([c, n]) => `${c} ${n}`).join(', ')})`;
  }
}

async function withWindowProxy<T>(manager: string, body: (proxy: Spawned) => Promise<T>): Promise<T> {
  const proxy = await spawnProxy(['--insecure', '--map', manager, '--no-memcached', '--send-window', '1']);
  try {
    return await body(proxy);
  } finally {
    await proxy.stop();
  }
}

// The pause outlasts the request deadline, not the failover time: on a slow machine the
// flood takes longer, and a node failed over without replicas loses its units by design.
test('a node paused (SIGSTOP) past the request deadline loses no acknowledged write, and nothing hangs', () => withCluster({
  nodes: 3, deadlineMs: 90_000, managerArgs: ['--failover-after-ms', '60000'],
}, async ({ manager, nodes }) => {
  await withWindowProxy(manager.address, async (proxy) => {
    const thin = await connect({ nodes: [proxy.address], timeoutMs: 1500 });
    const direct = await connect({ map: manager.address, timeoutMs: 5000 });
    const victim = nodes[1]!;
    let isPaused = false;
    try {
      const flood = new Flood(thin, 'none');
      await until(() => flood.acks >= 3000, 20_000, '3,000 writes before the pause');
      process.kill(victim.pid, 'SIGSTOP');
      isPaused = true;
      // Writes to the paused node reach their deadline; the rest go on.
      const acksAtPause = flood.acks;
      await until(() => flood.errors >= WRITERS / 4 && flood.acks >= acksAtPause + 1000, 20_000, 'deadlines on the paused node, writes elsewhere');
      process.kill(victim.pid, 'SIGCONT');
      isPaused = false;
      const acksAtResume = flood.acks;
      const errorsAtResume = flood.errors;
      await until(() => flood.acks >= acksAtResume + 3000, 20_000, '3,000 writes after the resume');
      await flood.stop();
      process.stdout.write(`    (pause: ${flood.report()}; ${flood.errors - errorsAtResume} failed after the resume; ${JSON.stringify([...flood.firstMessages])})\n`);
      assert.ok(flood.codes.get(ErrorCode.TIMEOUT) !== undefined, `requests to the paused node timed out: ${flood.report()}`);
      assert.equal(await flood.lost(direct), [], 'acknowledged writes lost');
    } finally {
      if (isPaused) process.kill(victim.pid, 'SIGCONT');
      await thin.close();
      await direct.close();
    }
  });
}));

test('a node killed (SIGKILL) under majority writes fails over with no acknowledged write lost, and nothing hangs', () => withCluster({
  nodes: 3, hasDht: true, deadlineMs: 150_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'],
}, async ({ manager, nodes }) => {
  await withWindowProxy(manager.address, async (proxy) => {
    const direct = await connect({ map: manager.address, timeoutMs: 5000 });
    const thin = await connect({ nodes: [proxy.address], timeoutMs: 3000 });
    try {
      await replicatedCluster(direct, manager.address, 3);
      const victim = nodes[2]!;
      const victimId = direct.map!.nodes.find((n) => n.address === victim.address)!.id;
      const flood = new Flood(thin, 'majority');
      await until(() => flood.acks >= 2000, 30_000, '2,000 majority writes before the kill');
      await victim.stop('SIGKILL');
      await poll(async () => (direct.map?.nodes.some((n) => n.id === victimId && n.state === 'failed') === true ? true : null), 20_000, 'failed over');
      const acksAtFailover = flood.acks;
      await until(() => flood.acks >= acksAtFailover + 2000, 30_000, '2,000 majority writes after the failover');
      await flood.stop();
      process.stdout.write(`    (kill: ${flood.report()})\n`);
      assert.equal(await flood.lost(direct), [], 'acknowledged writes lost');
    } finally {
      await thin.close();
      await direct.close();
    }
  });
}));

test.run();
