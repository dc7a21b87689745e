import { once } from 'node:events';
import WebSocket from 'ws';
import { spawnNode, spawnPandakv, type Spawned } from '../../bin/spawn.js';
import { withDeadline } from './deadline.js';

export { spawnPandakv };

/**
 * Start real node processes, run `body` under a deadline, and always stop them again
 * (in reverse order), whatever happens in the body.
 */
export async function withNodes<T>(argsPerNode: string[][], body: (nodes: Spawned[]) => Promise<T>, deadlineMs = 30_000): Promise<T> {
  const nodes: Spawned[] = [];
  try {
    for (const args of argsPerNode) nodes.push(await spawnNode(args.includes('--principals') ? args : ['--insecure', ...args]));
    return await withDeadline(body(nodes), deadlineMs, 'test body');
  } finally {
    for (const n of nodes.reverse()) await n.stop('SIGKILL');
  }
}

/** One node. */
export function withNode<T>(args: string[], body: (node: Spawned) => Promise<T>, deadlineMs?: number): Promise<T> {
  return withNodes([args], (nodes) => body(nodes[0]!), deadlineMs);
}

/** A raw WebSocket to a node or proxy, open (within 5 s), without compression; its errors are ignored. */
export async function openSocket(address: string): Promise<WebSocket> {
  const ws = new WebSocket(address, { perMessageDeflate: false });
  ws.on('error', () => undefined);
  await withDeadline(once(ws, 'open'), 5000, 'ws open');
  return ws;
}
