import { distPath, startReady, type ChildHandle } from './processes.js';

const READY_LINE = /^pandakv node listening on (ws:\/\/\S+)$/;

/** Where the bench sends its load: spawned nodes (stopped afterwards) or given ones. */
export interface NodeSet {
  addresses: string[];
  /** Whether the bench spawned them (and so is alone on them). */
  isSpawned: boolean;
}

export interface NodeSetOptions {
  /** Addresses given with `--target`; empty = spawn one node. */
  targetNodes: string[];
  /** Memory budget of a spawned node, MB. */
  memoryMb: number;
  /** Refuse writes over the budget instead of evicting (so lost items show up as errors). */
  isEvictionDisabled: boolean;
  spawnTimeoutMs: number;
}

/** Start `pandakv node` on 127.0.0.1, port 0; resolves with its address once it is ready. */
export async function spawnDataNode(memoryMb: number, isEvictionDisabled: boolean, timeoutMs: number): Promise<{ url: string; handle: ChildHandle }> {
  const args = [distPath('../bin/pandakv.js'), 'node', '--insecure', '--port', '0', '--ip', '127.0.0.1', '--memory-size', String(Math.ceil(memoryMb))];
  if (isEvictionDisabled) args.push('--no-evict');
  const { handle, match } = await startReady({ name: 'pandakv node', args, pattern: READY_LINE, timeoutMs });
  return { url: match[1]!, handle };
}

/** Run `fn` against the target nodes, or against a freshly spawned node that is always stopped afterwards. */
export async function withNodes<T>(o: NodeSetOptions, fn: (nodes: NodeSet) => Promise<T>): Promise<T> {
  if (o.targetNodes.length > 0) return fn({ addresses: o.targetNodes, isSpawned: false });
  const { url, handle } = await spawnDataNode(o.memoryMb, o.isEvictionDisabled, o.spawnTimeoutMs);
  try {
    return await fn({ addresses: [url], isSpawned: true });
  } finally {
    await handle.stop();
  }
}
