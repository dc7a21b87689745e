/**
 * The partition scenario of test/integration/partition.test.ts, run inside network
 * namespace A (manager, two nodes, a client on the live map). The third node and a
 * client that follows it run in namespace B, joined to A by a veth pair. The link is cut
 * for longer than the failover time, then restored. Prints one JSON summary line.
 *
 * With RECUTS, the link is cut that many more times, each soon after the node is back.
 *
 * Usage: node partition-scenario.js NS_B IP_A IP_B LINK_DEV [RECUTS]
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { connect, type PandaClient } from '../../sdk/index.js';
import { spawnManager, spawnNode, spawnPandakv, type Spawned } from '../../bin/spawn.js';
import { poll } from './deadline.js';
import { bucketOf } from '../../shared/keystream.js';
import { chainOf, unitOf } from '../../shared/cluster-map.js';
import { keysOn, replicatedCluster, rollbackCounts, seqOf } from './replicated.js';

const FAILOVER_MS = 2000;
const CUT_MS = 6000;



interface Op { t: 'set' | 'get' | 'ready'; key: string; value: string | null; durability?: string; ok: boolean; startedAt: number; at: number }

async function main(): Promise<void> {
  const [nsB, ipA, ipB, linkDev, recutArg] = process.argv.slice(2) as [string, string, string, string, string | undefined];
  const recuts = Number(recutArg ?? 0);
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-partition-'));
  const procs: Array<{ stop(signal?: NodeJS.Signals): Promise<unknown> }> = [];
  const intoB = ['ip', 'netns', 'exec', nsB];
  try {
    const manager = await spawnManager(['--ip', ipA, '--insecure', '--cfg', `file:${join(dir, 'cfg.json')}`, '--redundancy', '2', '--failover-after-ms', String(FAILOVER_MS)], 20_000);
    procs.push(manager);
    for (let i = 0; i < 2; i++) procs.push(await spawnNode(['--ip', ipA, '--insecure', '--manager', manager.address, '--data-dir', join(dir, `a${i}`), '--engine', 'memory'], 20_000));
    const victim: Spawned = await spawnPandakv(['node', '--ip', ipB, '--port', '0', '--insecure', '--manager', manager.address, '--data-dir', join(dir, 'b0'), '--engine', 'memory'],
      /^pandakv node listening on (ws:\/\/\S+)$/, 20_000, process.env, intoB);
    procs.push(victim);
    const db = await connect({ map: manager.address, durability: 'majority', timeoutMs: 6000 });
    try {
      await replicatedCluster(db, manager.address, 3);
      const before = db.map!;
      const v = before.nodes.findIndex((n) => n.address === victim.address);
      const victimId = before.nodes[v]!.id;
      const liveKeys = keysOn(before, v, 'live:', 100);
      const farKeys = keysOn(before, v, 'far:', 100);
      for (const k of liveKeys) await db.set(k, 'live:0');
      const t0 = Date.now();
      // How the live keys' chains changed, for the report of a reverted write.
      const chainsSeen: string[] = [];
      const liveUnits = new Set(liveKeys.map((k) => unitOf(before, bucketOf(k, before.bits))));
      let lastChains = '';
      const onMap = (): void => {
        const m = db.map;
        if (m === null) return;
        const chains = [...liveUnits].map((u) => `${u}:${chainOf(m, u * 2 ** (m.bits - m.unitBits)).join('/')}`).join(' ');
        if (chains === lastChains) return;
        lastChains = chains;
        chainsSeen.push(`+${Date.now() - t0} e${m.epoch} r${m.rev} ${m.nodes.map((n) => n.state[0]).join('')} ${chains}`);
      };
      onMap();
      db.on('map', onMap);

      // The client on the live map: key -> acknowledged (time, seq) in order.
      const history = new Map<string, Array<[number, number]>>();
      let seq = 0;
      let isWriting = true;
      const writer = (async () => {
        while (isWriting) {
          const k = liveKeys[seq % liveKeys.length]!;
          const n = ++seq;
          try {
            await db.set(k, `live:${n}`);
            const h = history.get(k) ?? [];
            h.push([Date.now(), n]);
            history.set(k, h);
          } catch { /* unacknowledged: may or may not have happened */ }
        }
      })();

      // The client in namespace B, beside the victim.
      const clientPath = fileURLToPath(new URL('./partition-client.js', import.meta.url));
      const far = spawn(intoB[0]!, [...intoB.slice(1), process.execPath, clientPath, manager.address, farKeys.join(','), liveKeys.join(',')], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push({ stop: async (signal: NodeJS.Signals = 'SIGTERM') => { far.kill(signal); } });
      const ops: Op[] = [];
      createInterface({ input: far.stdout! }).on('line', (line) => { try { ops.push(JSON.parse(line) as Op); } catch { /* not ours */ } });
      const farExit = new Promise<void>((resolve) => far.once('exit', () => resolve()));
      await poll(async () => (ops.filter((o) => o.t === 'set' && o.ok).length >= 20 ? true : null), 30_000, 'the far client writing');

      const cutAt = Date.now();
      execFileSync('ip', ['link', 'set', linkDev, 'down']);
      let failoverAt = 0;
      try {
        await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'failed') === true ? true : null), 30_000, 'failover');
        failoverAt = Date.now();
        const atFailover = seq;
        await poll(async () => (seq >= atFailover + 200 && Date.now() >= cutAt + CUT_MS ? true : null), 30_000, 'writes on the new actives');
      } finally {
        execFileSync('ip', ['link', 'set', linkDev, 'up']);
      }
      const restoredAt = Date.now();
      await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'active') === true ? true : null), 60_000, 'the victim back');
      // More cuts, each up to 800 ms into the victim's return: while it rolls back, copies
      // and takes its units back.
      for (let c = recuts; c > 0; c--) {
        const backAt = Date.now();
        const pause = Math.floor(Math.random() * 800);
        await poll(async () => (Date.now() >= backAt + pause ? true : null), 5000, 'the next cut');
        execFileSync('ip', ['link', 'set', linkDev, 'down']);
        try {
          await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'failed') === true ? true : null), 30_000, 'failover again');
          const at = seq;
          await poll(async () => (seq >= at + 100 ? true : null), 30_000, 'writes after the failover again');
        } finally {
          execFileSync('ip', ['link', 'set', linkDev, 'up']);
        }
        await poll(async () => (db.map?.nodes.some((n) => n.id === victimId && n.state === 'active') === true ? true : null), 60_000, 'the victim back again');
      }
      far.kill('SIGTERM');
      await farExit;
      isWriting = false;
      await writer;
      await replicatedCluster(db, manager.address, 3);

      let reverted = 0;
      const revertedKeys: string[] = [];
      for (const [k, h] of history) {
        const now = await textOf(db, k);
        if (seqOf(now) >= h[h.length - 1]![1]) continue;
        reverted++;
        const m = db.map!;
        const replica = await textOf(db, k, true).catch((e: Error) => e.message);
        revertedKeys.push(`${k} unit ${unitOf(m, bucketOf(k, m.bits))} chain ${chainOf(m, bucketOf(k, m.bits)).join('/')}: active has ${now}, replica ${replica}; `
          + `acked ${h.slice(-4).map(([at, n]) => `${n}@+${at - t0}`).join(' ')}`);
      }
      // The far client's acknowledged writes: the last one per key must be there unless a
      // `none` write the partition kept from streaming (acknowledged before the fence).
      const lastAcked = new Map<string, Op>();
      for (const o of ops) if (o.t === 'set' && o.ok) lastAcked.set(o.key, o);
      let majorityLost = 0;
      let noneLost = 0;
      const lostKeys: string[] = [];
      for (const [k, o] of lastAcked) {
        // A later write of the key that was not acknowledged may have taken effect.
        const now = await textOf(db, k);
        if (now === o.value || seqOf(now) > seqOf(o.value)) continue;
        if (o.durability === 'majority') majorityLost++;
        else noneLost++;
        const tries = ops.filter((x) => x.t === 'set' && x.key === k).slice(-4);
        lostKeys.push(`${k} has ${now}; last ${tries.map((x) => `${x.value}/${x.durability}/${x.ok ? 'ok' : 'failed'}@+${x.at - t0}`).join(' ')}`);
      }
      // An operation sent after the failover was published that the cut-off node answered OK.
      const late = ops.filter((o) => (o.t === 'set' || o.t === 'get') && o.ok && o.startedAt >= failoverAt && o.at < restoredAt);
      const acksAfterFailover = late.length;
      const fenceLine = victim.stderr.find((l) => l.includes('event=fence')) ?? '';
      if (late.length > 0) process.stderr.write(`late answers: ${JSON.stringify(late.slice(0, 3))}; cut ${cutAt}, failover ${failoverAt}; ${fenceLine}\n`);
      let staleReads = 0;
      for (const o of ops) {
        if (o.t !== 'get' || !o.ok) continue;
        const h = history.get(o.key) ?? [];
        // Newest write acknowledged before this read began.
        let want = 0;
        for (const [at, n] of h) if (at < o.startedAt && n > want) want = n;
        if (seqOf(o.value) < want) staleReads++;
      }
      const farAcksDuringCut = ops.filter((o) => o.ok && o.at >= cutAt && o.at < restoredAt).length;
      const fenced = victim.stderr.some((l) => l.includes('event=fence'));
      const rollback = rollbackCounts(victim.stderr);
      const stats = await db.stats();
      const victimStats = stats[victim.address] as Record<string, unknown> | undefined;
      const aheadRefused = Number(victimStats?.['repl_ahead_refused'] ?? -1);
      // Units the nodes held for a handover at a switch, over all nodes.
      const sum = (name: string): number => Object.values(stats).reduce<number>((n, st) => n + Number((st as Record<string, unknown> | undefined)?.[name] ?? 0), 0);
      const handover = { waits: sum('repl_handover_waits'), timeouts: sum('repl_handover_timeouts'), lateRefused: sum('repl_late_refused') };
      process.stdout.write(`${JSON.stringify({
        cutMs: restoredAt - cutAt, failoverAfterCutMs: failoverAt - cutAt, farOps: ops.length, farAcksDuringCut, acksAfterFailover,
        staleReads, majorityLost, noneLost, reverted, liveWrites: seq, fenced, rollback, aheadRefused, handover,
        ...(reverted === 0 && majorityLost === 0 ? {} : { why: { lostKeys, cutAt: cutAt - t0, failoverAt: failoverAt - t0, restoredAt: restoredAt - t0, revertedKeys, chainsSeen, logs: procs.map((p) => ('stderr' in p ? (p as Spawned).stderr : [])) } }),
      })}\n`);
    } finally {
      db.destroy();
    }
  } finally {
    for (const p of procs.reverse()) await p.stop('SIGKILL').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

async function textOf(db: PandaClient, key: string, replica = false): Promise<string | null> {
  const v = await db.get(key, replica ? { replica: true } : undefined);
  return v === null ? null : Buffer.from(v).toString();
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`partition scenario: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
