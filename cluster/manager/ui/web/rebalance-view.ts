/** Rebalance progress: units and bytes moved and left, rate, ETA, running or stopped. */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { FeedRebalance } from '../feed-protocol.js';
import { bytesLeftEstimate, rebalanceRate, type ProgressSample } from '../rebalance-rate.js';
import { ClusterActions } from './actions-view.js';
import { fmtBytes, fmtDuration, fmtInt } from './format.js';
import { MetricLink } from './metric-link.js';

export function rebalanceState(r: FeedRebalance): string {
  if (r.moves.isStopped) return 'stopped';
  if (r.moves.isMoving) return 'running';
  if (r.isRestoreHeld) return 'held (restore waits for an operator)';
  return r.isDone ? 'idle' : 'applying the map';
}

export function RebalanceView({ r, samples, isAdmin, redundancy }: { r: FeedRebalance; samples: ProgressSample[]; isAdmin: boolean; redundancy: number }): VNode {
  const mv = r.moves;
  const rate = rebalanceRate(samples, mv.unitsLeft);
  const total = mv.unitsMoved + mv.unitsLeft;
  const pct = total === 0 ? 100 : (100 * mv.unitsMoved) / total;
  const state = rebalanceState(r);
  const bytesLeft = bytesLeftEstimate(mv.unitsMoved, mv.bytesCopied, mv.unitsLeft);
  return html`<section id="rebalance" class="panel">
    <h2>Rebalance <span class=${`badge ${mv.isStopped ? 'down' : mv.isMoving ? 'up' : ''}`} data-test="rebalance-state">${state}</span></h2>
    <div class="progress"><div style=${{ width: `${pct.toFixed(1)}%` }}></div></div>
    <dl class="inline">
      <dt><${MetricLink} figure="unitsMoved">units moved<//></dt><dd data-test="units-moved">${fmtInt(mv.unitsMoved)}</dd>
      <dt><${MetricLink} figure="unitsLeft">units left<//></dt><dd data-test="units-left">${fmtInt(mv.unitsLeft)}</dd>
      <dt><${MetricLink} figure="bytesCopied">bytes copied<//></dt><dd data-test="bytes-copied">${fmtBytes(mv.bytesCopied)}</dd>
      <dt><${MetricLink} figure="bytesCopied">bytes left<//></dt><dd data-test="bytes-left" title="estimated: units left × bytes copied per unit moved so far">${bytesLeft === null ? '–' : `≈ ${fmtBytes(bytesLeft)}`}</dd>
      <dt><${MetricLink} figure="unitsMoved">rate<//></dt><dd>${rate.unitsPerSec.toFixed(1)} units/s · ${fmtBytes(rate.bytesPerSec)}/s</dd>
      <dt><${MetricLink} figure="unitsLeft">ETA<//></dt><dd>${mv.unitsLeft === 0 ? '–' : mv.isStopped ? 'stopped' : fmtDuration(rate.etaMs)}</dd>
      <dt><${MetricLink} figure="batches">batches<//></dt><dd>${mv.batches}</dd>
      <dt><${MetricLink} figure="appliedRev">map applied<//></dt><dd>${r.applied} / ${r.total} nodes at rev ${r.rev}</dd>
    </dl>
    ${mv.lastWarning !== null ? html`<p class="error">${mv.lastWarning}</p>` : null}
    ${isAdmin ? html`<${ClusterActions} redundancy=${redundancy} />` : null}
  </section>`;
}
