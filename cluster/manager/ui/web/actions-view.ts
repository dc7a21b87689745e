/**
 * Actions through the admin API, each behind a confirmation: per node add, remove, hard
 * and graceful failover; for the cluster rebalance start and stop, split, and redundancy.
 * Shown to admins only (a monitor's token would get 403 anyway).
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { FeedNode } from '../feed-protocol.js';
import { ACTIONS, runAction, type ActionName } from './api.js';
import { ask } from './confirm.js';
import { shortId } from './format.js';

const WHAT: Record<ActionName, string> = {
  add: 'The node gets its share of the units: data moves to it.',
  remove: 'The node hands its units to the others, then leaves the map.',
  failover: 'The node is declared failed at once: its replicas are promoted, writes it had not replicated are lost.',
  gracefulFailover: 'The node hands its active units over after its replicas caught up, then leaves.',
  rebalance: 'Re-plan with the current nodes and move data (resumes stopped moves).',
  stop: 'Data moves stop after the current batch; the cluster stays consistent.',
  split: 'Every bucket is split in two on the same owner; no data moves.',
  redundancy: 'Copies of each item change; data moves to create or drop copies.',
};

/** The outcome line of the last action, shared by all buttons. */
let report: ((text: string, ok: boolean) => void) | null = null;

async function act(name: ActionName, body: Record<string, unknown>, subject: string): Promise<void> {
  const label = ACTIONS[name].label;
  if (!(await ask(`${label}${subject === '' ? '' : ` ${subject}`}?`, WHAT[name]))) return;
  try {
    const r = await runAction(name, body);
    const err = r.body.error as { code?: string; message?: string } | undefined;
    report?.(r.ok ? `${label}${subject === '' ? '' : ` ${subject}`}: done` : `${label}: ${err?.code ?? r.status} ${err?.message ?? ''}`, r.ok);
  } catch (e) {
    report?.(`${label}: ${e instanceof Error ? e.message : String(e)}`, false);
  }
}

export function NodeActions({ node }: { node: FeedNode }): VNode {
  const ref = { node: node.id };
  const who = shortId(node.id);
  const isPlaced = node.state === 'active';
  return html`<div class="node-actions">
    ${!isPlaced ? html`<button data-test="add" onClick=${() => act('add', ref, who)}>Add</button>` : null}
    ${isPlaced ? html`<button data-test="remove" onClick=${() => act('remove', ref, who)}>Remove</button>` : null}
    ${node.state !== 'failed' ? html`<button class="danger" data-test="failover" onClick=${() => act('failover', ref, who)}>Hard failover</button>` : null}
    ${isPlaced ? html`<button data-test="graceful-failover" onClick=${() => act('gracefulFailover', ref, who)}>Graceful failover</button>` : null}
  </div>`;
}

export function ClusterActions({ redundancy }: { redundancy: number }): VNode {
  const [outcome, setOutcome] = useState<{ text: string; ok: boolean; seq: number } | null>(null);
  const [copies, setCopies] = useState(String(redundancy));
  // Numbered, so the same answer twice still reads as a new one.
  report = (text, ok) => setOutcome((prev) => ({ text, ok, seq: (prev?.seq ?? 0) + 1 }));
  return html`<div class="cluster-actions">
    <button data-test="rebalance-start" onClick=${() => act('rebalance', {}, '')}>Start rebalance</button>
    <button data-test="rebalance-stop" onClick=${() => act('stop', {}, '')}>Stop rebalance</button>
    <button data-test="split" onClick=${() => act('split', {}, '')}>Split buckets</button>
    <label>copies <input type="number" min="1" max="8" value=${copies} data-test="redundancy" onInput=${(e: Event) => setCopies((e.target as HTMLInputElement).value)} /></label>
    <button data-test="set-redundancy" onClick=${() => act('redundancy', { redundancy: Number(copies) }, `to ${copies}`)}>Set redundancy</button>
    ${outcome !== null ? html`<span class=${outcome.ok ? 'ok' : 'error'} data-test="action-outcome" data-seq=${outcome.seq}>${outcome.text}</span>` : null}
  </div>`;
}
