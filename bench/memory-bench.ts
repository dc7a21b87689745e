import { setTimeout as delay } from 'node:timers/promises';
import { connectClient, loadKeySpace, sdkExecutor } from './sdk-bench.js';

/** Node figures summed over every node. */
export interface NodeSample {
  rssBytes: number;
  /** Items the engines hold; NaN when a node does not report it. */
  items: number;
  /** Bytes the engines account for; NaN when a node does not report it. */
  bytes: number;
}

/** Memory cost of stored items. */
export interface MemoryResult {
  /** Items written by the bench. */
  loaded: number;
  /** Items the nodes gained (falls back to `loaded` when they report no count). */
  stored: number;
  keySize: number;
  valueSize: number;
  /** Raw key + value bytes of one item. */
  rawBytesPerItem: number;
  before: NodeSample;
  after: NodeSample;
  /** (RSS after − RSS before) ÷ items stored. */
  marginalBytesPerItem: number;
  /** `marginalBytesPerItem` ÷ raw bytes per item. */
  marginalRatio: number;
  /** RSS after ÷ raw bytes of every item held. */
  totalRatio: number;
  /** Engine-accounted bytes per item (NaN when not reported). */
  engineBytesPerItem: number;
  loadOpsPerSec: number;
}

export interface MemoryBenchOptions {
  items: number;
  keySize: number;
  valueSize: number;
  /** Requests outstanding while loading. */
  inflight: number;
  opTimeoutMs: number;
  /** Wait after loading before sampling, so the node's allocator settles. */
  settleMs: number;
}

function numeric(v: number | string | undefined): number {
  return typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
}

/** Sum `rss_bytes`, `items` and `bytes` over the nodes of a `stats()` answer. */
export function sumNodeStats(stats: Record<string, Record<string, number | string>>): NodeSample {
  const out: NodeSample = { rssBytes: 0, items: 0, bytes: 0 };
  for (const node of Object.values(stats)) {
    out.rssBytes += numeric(node.rss_bytes);
    out.items += numeric(node.items);
    out.bytes += numeric(node.bytes);
  }
  return out;
}

/** The memory figures from samples taken before and after loading `loaded` items. */
export function computeMemory(before: NodeSample, after: NodeSample, loaded: number, keySize: number, valueSize: number, loadOpsPerSec = 0): MemoryResult {
  const gained = after.items - before.items;
  const stored = Number.isFinite(gained) && gained > 0 ? gained : loaded;
  const held = Number.isFinite(after.items) && after.items > 0 ? after.items : stored;
  const raw = keySize + valueSize;
  const marginal = (after.rssBytes - before.rssBytes) / stored;
  const engineGained = after.bytes - before.bytes;
  return {
    loaded,
    stored,
    keySize,
    valueSize,
    rawBytesPerItem: raw,
    before,
    after,
    marginalBytesPerItem: marginal,
    marginalRatio: marginal / raw,
    totalRatio: after.rssBytes / (held * raw),
    engineBytesPerItem: engineGained / stored,
    loadOpsPerSec,
  };
}

/** A node budget that holds `items` without evicting: generous per-item allowance plus a floor. */
export function memoryBudgetMb(items: number, keySize: number, valueSize: number): number {
  return Math.ceil((items * (keySize + valueSize + 400)) / (1024 * 1024)) + 64;
}

/**
 * Node RSS per stored item: sample the nodes' stats, write `items` keys once each
 * through the SDK, let the node settle, sample again.
 */
export async function runMemoryBench(nodes: string[], o: MemoryBenchOptions): Promise<MemoryResult> {
  const client = await connectClient(nodes, o.inflight, o.opTimeoutMs);
  try {
    const before = sumNodeStats(await client.stats());
    if (!(before.rssBytes > 0)) throw new Error('the nodes report no rss_bytes in stats()');
    const load = await loadKeySpace(sdkExecutor(client), 'memory load', o.items, o);
    if (o.settleMs > 0) await delay(o.settleMs);
    const after = sumNodeStats(await client.stats());
    if (Number.isFinite(after.items) && after.items - before.items < o.items) {
      throw new Error(`the nodes hold ${after.items - before.items} new items of ${o.items} written (evicted or refused)`);
    }
    return computeMemory(before, after, o.items, o.keySize, o.valueSize, load.opsPerSec);
  } finally {
    await client.close();
  }
}
