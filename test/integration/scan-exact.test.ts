import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect, type PandaClient, type ScanTrackerStats } from '../../sdk/index.js';
import { spawnProxy, type Spawned } from '../../bin/spawn.js';
import { encodeMessage, decodeResponses } from '../../shared/protocol/codec.js';
import { Op } from '../../shared/protocol/ops.js';
import { Status } from '../../shared/status.js';
import { withCluster, type ClusterFixture } from '../helpers/cluster.js';
import { poll, withDeadline } from '../helpers/deadline.js';

const test = suite('integration - scans stay exact while the map changes');

/**
 * Keys loaded before each scan: 100 k (≈ 2 s with durability none, 5–40 s with majority
 * writes on the shared 2-core machine: the failover test has a longer budget for that).
 * The deadline tests, which prove the resume rather than the scale, load 50 k.
 */
const KEYS = 100_000;
const MAJORITY_KEYS = 50_000;
const keyOf = (i: number): string => `s:${String(i).padStart(6, '0')}`;
/** A scan pauses every CHUNK keys until the cluster moved on (the "slow" consumer). */
const CHUNK = 2_000;

async function load(db: PandaClient, durability: 'none' | 'majority', n = KEYS): Promise<void> {
  const t0 = Date.now();
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < n; i = next++) await db.set(keyOf(i), `v${i}`, { durability });
  };
  await Promise.all(Array.from({ length: 128 }, worker));
  process.stdout.write(`    (loaded ${n} keys with durability ${durability} in ${Date.now() - t0} ms)\n`);
}

async function rebalanceIdle(manager: string): Promise<boolean> {
  const res = await fetch(`${manager}/api/rebalance`);
  const p = await res.json() as { isDone: boolean; moves: { isMoving: boolean } };
  return p.isDone && !p.moves.isMoving;
}

async function admin(manager: string, path: string, body: unknown = {}): Promise<void> {
  const res = await fetch(`${manager}${path}`, { method: 'POST', body: JSON.stringify(body) });
  assert.is(res.status, 200, `${path}: ${await res.text()}`);
}

/** Until every node is active with redundancy 2 and a majority write goes through. */
async function replicated(db: PandaClient, nodes: number): Promise<void> {
  await poll(async () => {
    const map = db.map;
    if (map === null || map.nodes.filter((n) => n.state === 'active').length < nodes) return null;
    if (!map.runChains.every((c) => map.chains[c]!.length >= 2)) return null;
    await db.set('probe', 'x', { durability: 'majority', timeoutMs: 1000 });
    return true;
  }, 40_000, 'a replicated cluster');
}

/** Counts that say whether a scan returned every key exactly once, in order. */
function verdict(keys: readonly string[], n: number): { returned: number; missing: number; duplicates: number; outOfOrder: number; foreign: number } {

  let outOfOrder = 0;
  for (let i = 1; i < keys.length; i++) {

    if (keys[i]! < keys[i - 1]!) outOfOrder++;
  }
  const seen = new Set(keys);
  let missing = 0;
  for (let i = 0; i < n; i++) if (!seen.has(keyOf(i))) missing++;
  const foreign = [...seen].filter((k) => !/^s:\d{6}$/.test(k) || Number(k.slice(2)) >= n).length;
  return { returned: keys.length, missing, duplicates: keys.length - seen.size, outOfOrder, foreign };
}

function report(what: string, keys: readonly string[], n: number, more: string): void {
  const v = verdict(keys, n);
  process.stdout.write(`    (${what}: ${n} keys expected, ${v.returned} returned, ${v.missing} missing, ${v.duplicates} duplicate, ${v.outOfOrder} out of order; ${more})\n`);
  assert.equal(v, { returned: n, missing: 0, duplicates: 0, outOfOrder: 0, foreign: 0 }, what);
}

/**
 * The cluster change a scan runs through: `begin` starts it once the first chunk is read,
 * `step` holds a consumer at each later chunk until the map moved on (or the change is
 * over), so the scan is read a little at a time across the whole change.
 */
interface Change {
  begin(): Promise<void>;
  step(seenEpoch: number, seenBits: number): Promise<void>;
}

/** Hold until the map's epoch passed `seen` or the rebalance is over. */
function epochOrIdle(db: PandaClient, manager: string) {
  return (seen: number): Promise<void> => poll(async () => (db.map!.epoch > seen || await rebalanceIdle(manager) ? true : null), 40_000, 'a map change or an idle rebalance', 25).then(() => undefined);
}

function once1(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | null = null;
  return () => (p ??= fn());
}

/** A slow SDK scan over the loaded keys through `change`. */
async function sdkScan(db: PandaClient, change: Change): Promise<{ keys: string[]; stats: string; counts: Readonly<ScanTrackerStats> }> {
  const it = db.scan({ start: 's:', end: 's;', pageSize: 100, timeoutMs: 20_000 });
  const keys: string[] = [];
  let epoch = db.map!.epoch;
  let bits = db.map!.bits;
  for await (const e of it) {
    keys.push(e.key);
    if (keys.length % CHUNK !== 0) continue;
    if (keys.length === CHUNK) await change.begin();
    else await change.step(epoch, bits);
    epoch = db.map!.epoch;
    bits = db.map!.bits;
  }
  const s = it.stats;
  return { keys, counts: s, stats: `${s.pages} pages, ${s.replans} re-plans, ${s.handovers} hand-overs, ${s.restarts} restarted streams, ${s.droppedRows} buffered rows re-read, ${s.foreignRows} foreign rows ignored` };
}

/** The same through the proxy's native protocol: pages of 250 resumed by cursor. */
async function proxyScan(proxy: string, db: PandaClient, change: Change): Promise<{ keys: string[]; stats: string }> {
  const ws = new WebSocket(proxy);
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 5000, 'proxy open');
  const keys: string[] = [];
  let pages = 0;
  let interrupted = 0;
  let shortPages = 0;
  try {
    let cursor: string | null = null;
    let epoch = db.map!.epoch;
    let bits = db.map!.bits;
    let id = 0;
    for (;;) {
      const reply = withDeadline(once(ws, 'message'), 30_000, 'scan page');
      const frame = cursor === null
        ? [++id, Op.SCAN, 0, 's:', null, 0, 0, 0, { end: 's;', limit: 250 }]
        : [++id, Op.SCAN, 0, null, null, 0, 0, 0, { end: 's;', limit: 250, cursor }];
      ws.send(encodeMessage([frame]));
      const [r] = decodeResponses((await reply)[0] as Buffer)!;
      if (r!.status === Status.SCAN_INTERRUPTED) {
        // Nothing read: the same cursor resumes exactly.
        interrupted++;
        assert.is(r!.extra?.cursor ?? null, cursor);
        continue;
      }
      assert.is(r!.status, Status.OK, String(r!.extra?.message));
      pages++;
      const flat = r!.value as unknown[];
      const before = keys.length;
      for (let i = 0; i < flat.length; i += 4) keys.push(String(flat[i]));
      cursor = (r!.extra?.cursor as string | null) ?? null;
      if (cursor === null) break;
      if (flat.length / 4 < 250) shortPages++;
      if (Math.floor(keys.length / CHUNK) > Math.floor(before / CHUNK)) {
        if (before < CHUNK) await change.begin();
        else await change.step(epoch, bits);
        epoch = db.map!.epoch;
        bits = db.map!.bits;
      }
    }
  } finally {
    ws.close();
  }
  return { keys, stats: `${pages} pages, ${shortPages} short pages, ${interrupted} SCAN_INTERRUPTED retried with the same cursor` };
}

/**
 * Load, then run the SDK and the proxy scans side by side through `change`. Returns the
 * SDK scan's counters, so a test can check the change reached it mid-scan (a scan that
 * ran before or after the change would prove nothing).
 */
async function scanThrough(c: ClusterFixture, db: PandaClient, proxy: Spawned, what: string, change: Change, n = KEYS): Promise<Readonly<ScanTrackerStats>> {
  const epochBefore = db.map!.epoch;
  const t0 = Date.now();
  const [sdk, thin] = await Promise.all([sdkScan(db, change), proxyScan(proxy.address, db, change)]);
  const epochs = `epoch ${epochBefore}→${db.map!.epoch}, ${Date.now() - t0} ms`;
  report(`${what}, SDK`, sdk.keys, n, `${sdk.stats}; ${epochs}`);
  report(`${what}, proxy`, thin.keys, n, `${thin.stats}; ${epochs}`);
  void c;
  return sdk.counts;
}

function withScanCluster(opts: { nodes: number; managerArgs?: string[]; deadlineMs?: number }, body: (c: ClusterFixture, db: PandaClient, proxy: Spawned) => Promise<void>): Promise<void> {
  return withCluster({ nodes: opts.nodes, hasDht: true, deadlineMs: opts.deadlineMs ?? 58_000, managerArgs: opts.managerArgs ?? [] }, async (c) => {
    const proxy = await spawnProxy(['--insecure', '--map', c.manager.address, '--no-memcached', '--timeout-ms', '5000']);
    const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
    try {
      await poll(async () => (db.map !== null && db.map.nodes.filter((n) => n.state === 'active').length === opts.nodes && await rebalanceIdle(c.manager.address) ? true : null), 30_000, 'every node placed');
      await body(c, db, proxy);
    } finally {
      await db.close();
      await proxy.stop();
    }
  });
}

test('a slow scan while a node joins returns every key exactly once, in order, with no error (SDK and proxy)', () => withScanCluster({ nodes: 2 }, async (c, db, proxy) => {
  await load(db, 'none');
  const waitMore = epochOrIdle(db, c.manager.address);
  const change: Change = {
    begin: once1(async () => {
      const epoch = db.map!.epoch;
      await c.addNode();
      // The join is under way once the map moved units to the new node.
      await poll(async () => (db.map!.epoch > epoch ? true : null), 20_000, 'the first move of the join');
    }),
    step: (epoch) => waitMore(epoch),
  };
  const s = await scanThrough(c, db, proxy, 'join', change);
  assert.ok(s.handovers > 0, 'the SDK scan read ranges from the joining node after they moved mid-scan');
}));

test('a slow scan while a node is removed returns every key exactly once, in order, with no error (SDK and proxy)', () => withScanCluster({ nodes: 3 }, async (c, db, proxy) => {
  await load(db, 'none');
  const waitMore = epochOrIdle(db, c.manager.address);
  const victim = db.map!.nodes.find((n) => n.address === c.nodes[0]!.address)!;
  const change: Change = {
    begin: once1(async () => {
      const epoch = db.map!.epoch;
      await admin(c.manager.address, '/api/nodes/remove', { node: victim.id });
      await poll(async () => (db.map!.epoch > epoch ? true : null), 20_000, 'the first move of the removal');
    }),
    step: (epoch) => waitMore(epoch),
  };
  const s = await scanThrough(c, db, proxy, 'remove', change);
  assert.ok(s.handovers > 0, 'the SDK scan read the removed node\'s ranges from their new owners mid-scan');
}));

test('a slow scan while an active is SIGKILLed and failed over (redundancy 2) returns every key exactly once, in order, with no error (SDK and proxy)', () => withScanCluster({
  nodes: 3, managerArgs: ['--redundancy', '2', '--failover-after-ms', '1000'], deadlineMs: 110_000,
}, async (c, db, proxy) => {
  await replicated(db, 3);
  // Majority writes: every key is on two copies before the scan starts, so the failover loses none.
  await load(db, 'majority');
  const victim = c.nodes[1]!;
  const waitMore = epochOrIdle(db, c.manager.address);
  const change: Change = {
    // No wait after the kill: the scans run into the dead node and must ride out the failover.
    begin: once1(async () => {
      await victim.stop('SIGKILL');
    }),
    step: (epoch) => waitMore(epoch),
  };
  const s = await scanThrough(c, db, proxy, 'failover', change);
  assert.ok(s.handovers > 0, 'the SDK scan read the dead node\'s ranges from the promoted replicas mid-scan');
  assert.ok(db.map!.nodes.some((n) => n.address === victim.address && n.state === 'failed'), 'the victim was failed over during the scans');
}));

test('a slow scan while the buckets split twice returns every key exactly once, in order, with no error (SDK and proxy)', () => withScanCluster({ nodes: 3 }, async (c, db, proxy) => {
  await load(db, 'none');
  const bitsBefore = db.map!.bits;
  let splits = 0;
  const change: Change = {
    begin: once1(async () => {
      await admin(c.manager.address, '/api/split');
      splits++;
    }),
    // The second split comes a few chunks later, once the first one reached this client.
    step: async (_epoch, bits) => {
      await poll(async () => (db.map!.bits > bitsBefore ? true : null), 20_000, 'the split map');
      if (splits === 1 && bits > bitsBefore) {
        splits++;
        await admin(c.manager.address, '/api/split');
      }
    },
  };
  const s = await scanThrough(c, db, proxy, 'split', change);
  assert.is(db.map!.bits, bitsBefore + 2);
  assert.ok(s.replans >= 2, 'the SDK scan took both split maps mid-scan');
}));

test('a scan whose deadline passes while an owner is down fails with KV_ERR_SCAN_INTERRUPTED and resumes exactly from details.resumeFrom', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 58_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '8000'],
}, async (c) => {
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  try {
    await replicated(db, 2);
    await load(db, 'majority', MAJORITY_KEYS);
    const first: string[] = [];
    const it = db.scan({ start: 's:', end: 's;', pageSize: 100, timeoutMs: 1500 });
    let err = null as { code?: string; details?: { resumeFrom?: Uint8Array } } | null;
    const victim = c.nodes[0]!;
    try {
      for await (const e of it) {
        first.push(e.key);
        if (first.length === CHUNK) await victim.stop('SIGKILL');
      }
    } catch (e) {
      err = e as typeof err;
    }
    assert.ok(err !== null, 'the scan failed instead of skipping the dead owner');
    assert.is(err!.code, 'KV_ERR_SCAN_INTERRUPTED');
    const resumeFrom = err!.details!.resumeFrom!;
    assert.instance(resumeFrom, Uint8Array);
    // The owner stays down (no automatic failover for 8 s): an admin fails it over (which
    // waits for the dead node's liveness lease to run out, docs/replication.md "Fencing"),
    // and the scan resumes where it stopped.
    const id = db.map!.nodes.find((n) => n.address === victim.address)!.id;
    await admin(c.manager.address, '/api/nodes/failover', { node: id });
    await poll(async () => (db.map!.nodes.some((n) => n.address === victim.address && n.state === 'failed') ? true : null), 20_000, 'the failover');
    const rest: string[] = [];
    for await (const e of db.scan({ start: resumeFrom, end: 's;', pageSize: 100, timeoutMs: 10_000 })) rest.push(e.key);
    report('deadline, resumed', [...first, ...rest], MAJORITY_KEYS, `${first.length} before the interruption, ${rest.length} after resuming`);
  } finally {
    await db.close();
  }
}));

test('through the proxy, a page that cannot stay exact within --timeout-ms comes back short with its cursor or as SCAN_INTERRUPTED; resending resumes exactly', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 58_000, managerArgs: ['--redundancy', '2', '--failover-after-ms', '8000'],
}, async (c) => {
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  const proxy = await spawnProxy(['--insecure', '--map', c.manager.address, '--no-memcached', '--timeout-ms', '800']);
  let ws: WebSocket | null = null;
  try {
    await replicated(db, 2);
    const n = 20_000;
    await load(db, 'majority', n);
    ws = new WebSocket(proxy.address);
    ws.on('error', () => undefined);
    await withDeadline(once(ws, 'open'), 5000, 'proxy open');
    const victim = c.nodes[0]!;
    const keys: string[] = [];
    let cursor: string | null = null;
    let short = 0;
    let interrupted = 0;
    let isFailedOver = false;
    for (let id = 1; ; id++) {
      const reply = withDeadline(once(ws, 'message'), 20_000, 'scan page');
      const extra: Record<string, unknown> = { end: 's;', limit: 250 };
      if (cursor !== null) extra.cursor = cursor;
      ws.send(encodeMessage([[id, Op.SCAN, 0, cursor === null ? 's:' : null, null, 0, 0, 0, extra]]));
      const [r] = decodeResponses((await reply)[0] as Buffer)!;
      let isStalled = false;
      if (r!.status === Status.SCAN_INTERRUPTED) {
        interrupted++;
        assert.is(r!.extra?.cursor ?? null, cursor, 'the cursor to send again is the one sent');
        isStalled = true;
      } else {
        assert.is(r!.status, Status.OK, String(r!.extra?.message));
        const flat = r!.value as unknown[];
        for (let i = 0; i < flat.length; i += 4) keys.push(String(flat[i]));
        cursor = (r!.extra?.cursor as string | null) ?? null;
        if (cursor === null) break;
        if (flat.length / 4 < 250) {
          short++;
          isStalled = true;
        }
      }
      if (keys.length >= CHUNK && victim.child.exitCode === null && victim.child.signalCode === null) await victim.stop('SIGKILL');
      if (isStalled && !isFailedOver) {
        // The pages ran into the dead owner: now fail it over, and keep resending.
        isFailedOver = true;
        const id = db.map!.nodes.find((x) => x.address === victim.address)!.id;
        await admin(c.manager.address, '/api/nodes/failover', { node: id });
        await poll(async () => (db.map!.nodes.some((x) => x.address === victim.address && x.state === 'failed') ? true : null), 20_000, 'the failover');
      }
    }
    assert.ok(short + interrupted > 0, 'the dead owner stalled at least one page');
    report('proxy deadline, resumed', keys, n, `${short} short pages, ${interrupted} SCAN_INTERRUPTED answers, each resumed with its cursor`);
  } finally {
    ws?.close();
    await proxy.stop();
    await db.close();
  }
}));

/** One page of a proxy scan over `[s:, s;)`: the answer's status, keys and cursor. */
async function proxyPage(ws: WebSocket, id: number, cursor: string | null): Promise<{ status: number; keys: string[]; cursor: string | null }> {
  const reply = withDeadline(once(ws, 'message'), 20_000, 'scan page');
  const extra: Record<string, unknown> = { end: 's;', limit: 250 };
  if (cursor !== null) extra.cursor = cursor;
  ws.send(encodeMessage([[id, Op.SCAN, 0, cursor === null ? 's:' : null, null, 0, 0, 0, extra]]));
  const [r] = decodeResponses((await reply)[0] as Buffer)!;
  const keys: string[] = [];
  if (r!.status === Status.OK) {
    const flat = r!.value as unknown[];
    for (let i = 0; i < flat.length; i += 4) keys.push(String(flat[i]));
  }
  return { status: r!.status, keys, cursor: (r!.extra?.cursor as string | null | undefined) ?? null };
}

test('a scan whose deadline passes mid-move (the joining owner stalls) fails with KV_ERR_SCAN_INTERRUPTED / SCAN_INTERRUPTED, and its resumeFrom / cursor resume exactly once the move goes on (SDK and proxy)', () => withCluster({
  // Small move batches: the join takes several switches, so it is still moving when its new owner stalls.
  nodes: 2, hasDht: true, deadlineMs: 58_000, managerArgs: ['--moves-per-node', '8', '--failover-after-ms', '60000'],
}, async (c) => {
  const n = MAJORITY_KEYS;
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  const proxy = await spawnProxy(['--insecure', '--map', c.manager.address, '--no-memcached', '--timeout-ms', '1500']);
  const ws = new WebSocket(proxy.address);
  ws.on('error', () => undefined);
  let joined: Awaited<ReturnType<ClusterFixture['addNode']>> | null = null;
  try {
    await withDeadline(once(ws, 'open'), 5000, 'proxy open');
    await poll(async () => (db.map !== null && db.map.nodes.filter((x) => x.state === 'active').length === 2 && await rebalanceIdle(c.manager.address) ? true : null), 30_000, 'both nodes placed');
    await load(db, 'none', n);
    // Both scans read their first keys on the 2-node map.
    const sdkKeys: string[] = [];
    const it = db.scan({ start: 's:', end: 's;', pageSize: 100, timeoutMs: 1500 });
    for (;;) {
      const r = await it.next();
      assert.is(r.done, false);
      sdkKeys.push(r.value!.key);
      if (sdkKeys.length === CHUNK) break;
    }
    const proxyKeys: string[] = [];
    let id = 0;
    let cursor: string | null = null;
    while (proxyKeys.length < CHUNK) {
      const p = await proxyPage(ws, ++id, cursor);
      assert.is(p.status, Status.OK);
      proxyKeys.push(...p.keys);
      cursor = p.cursor;
    }
    // A third node joins; once the map made it the active owner of some units, it stalls.
    const epoch = db.map!.epoch;
    joined = await c.addNode();
    const address = joined.address;
    await poll(async () => {
      const map = db.map!;
      const i = map.nodes.findIndex((x) => x.address === address);
      return map.epoch > epoch && i >= 0 && map.runStarts.some((_, r) => map.chains[map.runChains[r]!]![0] === i) ? true : null;
    }, 30_000, 'the joining node active for its first units');
    joined.child.kill('SIGSTOP');
    let err = null as { code?: string; details?: { resumeFrom?: Uint8Array } } | null;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done === true) break;
        sdkKeys.push(r.value.key);
      }
    } catch (e) {
      err = e as typeof err;
    }
    assert.ok(err !== null, 'the SDK scan failed instead of skipping the stalled owner');
    assert.is(err!.code, 'KV_ERR_SCAN_INTERRUPTED');
    const resumeFrom = err!.details!.resumeFrom!;
    assert.instance(resumeFrom, Uint8Array);
    const sdkBefore = sdkKeys.length;
    // The proxy's next page runs into the same stall: SCAN_INTERRUPTED (or a short page) with the cursor to send.
    let stalled = 0;
    let interrupted = 0;
    for (;;) {
      const p = await proxyPage(ws, ++id, cursor);
      if (p.status === Status.SCAN_INTERRUPTED) {
        assert.is(p.cursor, cursor, 'SCAN_INTERRUPTED echoes the cursor to send again');
        interrupted++;
        stalled++;
        break;
      }
      assert.is(p.status, Status.OK);
      proxyKeys.push(...p.keys);
      cursor = p.cursor;
      assert.ok(cursor !== null, 'the proxy scan did not end while an owner stalled');
      if (p.keys.length < 250) {
        stalled++;
        break;
      }
    }
    const progress = await (await fetch(`${c.manager.address}/api/rebalance`)).json() as { isDone: boolean };
    assert.is(progress.isDone, false, 'the deadlines passed mid-move');
    joined.child.kill('SIGCONT');
    // Resume both while the join goes on.
    for await (const e of db.scan({ start: resumeFrom, end: 's;', pageSize: 100, timeoutMs: 20_000 })) sdkKeys.push(e.key);
    let resent = 0;
    while (cursor !== null) {
      const p = await proxyPage(ws, ++id, cursor);
      if (p.status === Status.SCAN_INTERRUPTED) {
        resent++;
        continue;
      }
      assert.is(p.status, Status.OK);
      proxyKeys.push(...p.keys);
      cursor = p.cursor;
    }
    const moved = `epoch ${epoch}→${db.map!.epoch}, rebalance done ${await rebalanceIdle(c.manager.address)}`;
    report('deadline mid-move, SDK resumed', sdkKeys, n, `interrupted after ${sdkBefore} keys; ${moved}`);
    report('deadline mid-move, proxy resumed', proxyKeys, n, `${stalled} stalled page (${interrupted} SCAN_INTERRUPTED), ${resent} SCAN_INTERRUPTED after resuming; ${moved}`);
    assert.is(stalled, 1);
  } finally {
    if (joined !== null && joined.child.exitCode === null) joined.child.kill('SIGCONT');
    ws.close();
    await proxy.stop();
    await db.close();
  }
}));

/** `stats cachedump 1 0` on the proxy's memcached port: the keys it lists, in order. */
async function cachedump(address: string): Promise<string[]> {
  const [host, port] = address.split(':');
  const sock: Socket = netConnect(Number(port), host);
  sock.on('error', () => undefined);
  let got = '';
  const done = new Promise<string>((resolve) => sock.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    if (got.endsWith('END\r\n') || got.endsWith('ERROR\r\n')) resolve(got);
  }));
  sock.write('stats cachedump 1 0\r\n');
  try {
    const text = await withDeadline(done, 30_000, 'stats cachedump');
    assert.ok(text.endsWith('END\r\n'), `cachedump answered ${JSON.stringify(text.slice(-80))}`);
    return text.split('\r\n').filter((l) => l.startsWith('ITEM ')).map((l) => l.slice(5, l.indexOf(' [')));
  } finally {
    sock.destroy();
  }
}

test('while a slowed join moves units, large proxy pages that the map changed under are exact, and so is memcached stats cachedump', () => withCluster({
  nodes: 2, hasDht: true, deadlineMs: 58_000, managerArgs: ['--moves-per-node', '8'],
}, async (c) => {
  const n = MAJORITY_KEYS;
  const db = await connect({ map: c.manager.address, timeoutMs: 10_000 });
  const proxy = await spawnProxy(['--insecure', '--map', c.manager.address, '--timeout-ms', '10000']);
  const ws = new WebSocket(proxy.address);
  ws.on('error', () => undefined);
  try {
    await withDeadline(once(ws, 'open'), 5000, 'proxy open');
    await poll(async () => (db.map !== null && db.map.nodes.filter((x) => x.state === 'active').length === 2 && await rebalanceIdle(c.manager.address) ? true : null), 30_000, 'both nodes placed');
    await load(db, 'none', n);
    const epoch = db.map!.epoch;
    // The new node copies in at most 256 KiB/s: the join lasts seconds, with many switches.
    await c.addNode(['--backfill-rate', '256']);
    await poll(async () => (db.map!.epoch > epoch ? true : null), 20_000, 'the first move of the join');
    let id = 0;
    let scans = 0;
    let pages = 0;
    let straddled = 0;
    let dumps = 0;
    // Whole scans in pages of 5,000 (20 node round trips each) until the join is over.
    do {
      const keys: string[] = [];
      let cursor: string | null = null;
      do {
        const reply = withDeadline(once(ws, 'message'), 20_000, 'scan page');
        const extra: Record<string, unknown> = { end: 's;', limit: 5000 };
        if (cursor !== null) extra.cursor = cursor;
        const sentAt = db.map!.epoch;
        ws.send(encodeMessage([[++id, Op.SCAN, 0, cursor === null ? 's:' : null, null, 0, 0, 0, extra]]));
        const [r] = decodeResponses((await reply)[0] as Buffer)!;
        if (r!.status === Status.SCAN_INTERRUPTED) continue;
        assert.is(r!.status, Status.OK, String(r!.extra?.message));
        pages++;
        // The map moved while this page was read: the page itself had to stay exact.
        if (db.map!.epoch !== sentAt) straddled++;
        const flat = r!.value as unknown[];
        for (let i = 0; i < flat.length; i += 4) keys.push(String(flat[i]));
        cursor = (r!.extra?.cursor as string | null) ?? null;
      } while (cursor !== null);
      scans++;
      report(`slowed join, proxy pages of 5000, scan ${scans}`, keys, n, `${pages} pages so far, ${straddled} read while the map changed`);
      if (!await rebalanceIdle(c.manager.address)) {
        const before = db.map!.epoch;
        const listed = await cachedump(proxy.memcached!);
        dumps++;
        report(`slowed join, stats cachedump ${dumps}`, listed, n, `epoch ${before}→${db.map!.epoch} while it ran`);
      }
    } while (!await rebalanceIdle(c.manager.address));
    process.stdout.write(`    (${scans} whole scans, ${pages} pages, ${straddled} pages read while the map changed, ${dumps} cachedumps; epoch ${epoch}→${db.map!.epoch})\n`);
    assert.ok(straddled > 0, 'at least one page was read while the map changed');
    assert.ok(dumps > 0, 'at least one cachedump ran during the join');
  } finally {
    ws.close();
    await proxy.stop();
    await db.close();
  }
}));

test.run();
