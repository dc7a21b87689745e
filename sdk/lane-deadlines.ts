import { KvError } from '../shared/errors.js';
import type { RequestTable } from './lane-table.js';

/**
 * Fail every request of `table` whose deadline passed with `KV_ERR_TIMEOUT` (the client
 * re-makes it where its caller awaits: `shared/caller-stack.ts`). A lane checks all its deadlines on one coarse timer instead of
 * a timer per request.
 */
export function expireRequests(table: RequestTable, now: number, address: string): void {
  const { admitted, queued } = table.takeExpired(now);
  for (const req of admitted) {
    req.onError(KvError.timeout(`no answer from ${address} before the deadline`, { node: address, isSafeToRetry: !req.isSent }));
  }
  for (const req of queued) {
    req.onError(KvError.timeout(`queued for ${address} until the deadline`, { node: address, isSafeToRetry: true }));
  }
}
