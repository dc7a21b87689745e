import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { withDeadline } from '../helpers/deadline.js';

const test = suite('integration - a network partition (network namespaces)');

interface Summary {
  cutMs: number; failoverAfterCutMs: number; farOps: number; farAcksDuringCut: number; acksAfterFailover: number;
  staleReads: number; majorityLost: number; noneLost: number; reverted: number; liveWrites: number; fenced: boolean;
  rollback: { deltaUnits: number; discarded: number; copiedUnits: number };
  /** Records and hints the victim refused while its map still named it their unit's active. */
  aheadRefused: number;
  /** Over all nodes: units held at a switch until their previous active handed them over, those served when the wait ran out, late records refused. */
  handover: { waits: number; timeouts: number; lateRefused: number };
  /** Only when writes were reverted: what happened around them. */
  why?: unknown;
}

/** Two namespaces joined by a veth pair, addresses only between them; null when this machine cannot make them. */
function makeNamespaces(): { a: string; b: string; devA: string; ipA: string; ipB: string; remove(): void } | null {
  const tag = randomBytes(3).toString('hex');
  const a = `pkv-a-${tag}`;
  const b = `pkv-b-${tag}`;
  const devA = `pkva${tag}`;
  const devB = `pkvb${tag}`;
  // A /30 inside 10.201.0.0/16, picked at random so parallel runs do not meet.
  const third = randomBytes(1)[0]!;
  const fourth = (randomBytes(1)[0]! & 0xfc) % 252;
  const ipA = `10.201.${third}.${fourth + 1}`;
  const ipB = `10.201.${third}.${fourth + 2}`;
  const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'ignore' }); };
  const remove = (): void => {
    for (const ns of [a, b]) {
      try { ip('netns', 'del', ns); } catch { /* already gone */ }
    }
  };
  try {
    ip('netns', 'add', a);
    ip('netns', 'add', b);
    ip('link', 'add', devA, 'netns', a, 'type', 'veth', 'peer', 'name', devB, 'netns', b);
    for (const [ns, dev, addr] of [[a, devA, ipA], [b, devB, ipB]] as const) {
      ip('-n', ns, 'addr', 'add', `${addr}/30`, 'dev', dev);
      ip('-n', ns, 'link', 'set', dev, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
    }
    return { a, b, devA, ipA, ipB, remove };
  } catch {
    remove();
    return null;
  }
}

/** Run the scenario in fresh namespaces; null where namespaces cannot be made. */
async function runScenario(recuts: number): Promise<Summary | null> {
  const ns = makeNamespaces();
  if (ns === null) {
    process.stdout.write('    (skipped: cannot create network namespaces here; needs root and iproute2)\n');
    return null;
  }
  try {
    const script = fileURLToPath(new URL('../helpers/partition-scenario.js', import.meta.url));
    const child = spawn('ip', ['netns', 'exec', ns.a, process.execPath, script, ns.b, ns.ipA, ns.ipB, ns.devA, String(recuts)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    const [code] = await withDeadline(once(child, 'exit'), 180_000, 'partition scenario').catch((e: Error) => {
      child.kill('SIGKILL');
      throw e;
    });
    assert.is(code, 0, `scenario failed: ${err.slice(-2000)}`);
    const s = JSON.parse(out.trim().split('\n').pop()!) as Summary;
    process.stdout.write(`    (link cut ${s.cutMs} ms, failover ${s.failoverAfterCutMs} ms after the cut; far side: ${s.farOps} ops, ${s.farAcksDuringCut} answered OK during the cut, `
      + `${s.acksAfterFailover} after the failover, ${s.staleReads} stale reads; far majority writes lost ${s.majorityLost}, far none writes lost ${s.noneLost}; `
      + `live side: ${s.liveWrites} writes, ${s.reverted} reverted; fence logged: ${s.fenced}; on return: ${s.rollback.deltaUnits} units rolled back and caught up by delta `
      + `(${s.rollback.discarded} records discarded), ${s.rollback.copiedUnits} copied in full; ${s.aheadRefused} records refused while behind on the map; `
      + `${s.handover.waits} units held for a handover, ${s.handover.timeouts} served when the wait ran out, ${s.handover.lateRefused} late records refused)\n`);
    if (s.why !== undefined) process.stdout.write(`    lost or reverted writes: ${JSON.stringify(s.why, null, 1)}\n`);
    assert.is(s.staleReads, 0, 'stale reads');
    assert.is(s.majorityLost, 0, 'majority-acknowledged writes lost');
    assert.is(s.reverted, 0, 'live writes reverted');
    assert.ok(s.fenced, 'the cut-off node logged that it fenced itself');
    return s;
  } finally {
    ns.remove();
  }
}

// A node (and a client beside it) cut off from the managers and the other nodes for three
// failover times: the node fences itself before its replicas take over, so its side of
// the partition gets no acknowledgement and no read after the failover, and nothing the
// live side acknowledged is reverted when the link comes back.
test('a partitioned active fences itself: nothing acknowledged on its side after the failover, nothing reverted when it heals', async () => {
  const s = await runScenario(0);
  if (s !== null) assert.is(s.acksAfterFailover, 0, 'the cut-off node answered after its failover');
});

// The link goes down again three times, each up to 800 ms after the node is back: while it
// rolls back, copies its units and waits to take them back. Its copies start over each
// time; none may keep values from before a cut.
test('cut again and again while it catches up: nothing lost, nothing reverted', async () => {
  const s = await runScenario(3);
  if (s !== null) assert.is(s.acksAfterFailover, 0, 'the cut-off node answered after its first failover');
});

test.run();
