/** The admin API (cluster/manager/admin-api.ts) from the page: the actions, with the login's token. */
import { store } from './store.js';

export interface ActionResult {
  ok: boolean;
  status: number;
  body: Record<string, unknown>;
}

/** The actions the page offers, each one admin API route. */
export const ACTIONS = Object.freeze({
  add: { path: '/api/nodes/add', label: 'Add' },
  remove: { path: '/api/nodes/remove', label: 'Remove' },
  failover: { path: '/api/nodes/failover', label: 'Hard failover' },
  gracefulFailover: { path: '/api/nodes/failover', label: 'Graceful failover' },
  rebalance: { path: '/api/rebalance', label: 'Start rebalance' },
  stop: { path: '/api/rebalance/stop', label: 'Stop rebalance' },
  split: { path: '/api/split', label: 'Split buckets' },
  redundancy: { path: '/api/settings', label: 'Set redundancy' },
});

export type ActionName = keyof typeof ACTIONS;

export async function runAction(name: ActionName, body: Record<string, unknown>): Promise<ActionResult> {
  const token = store.state.token;
  const res = await fetch(ACTIONS[name].path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: JSON.stringify(name === 'gracefulFailover' ? { ...body, graceful: true } : body),
  });
  const json = await res.json().catch(() => ({})) as Record<string, unknown>;
  return { ok: res.status === 200, status: res.status, body: json };
}
