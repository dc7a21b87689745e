/**
 * One card per node: state, zone, weight, liveness, and what its heartbeats report
 * (items, memory, ops/s, p50/p99, hints pending, backfills, fenced), with the node's
 * actions for an admin.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import type { FeedNode } from '../feed-protocol.js';
import { fmtBytes, fmtInt, fmtTime, fmtUs, shortId } from './format.js';
import { MetricLink } from './metric-link.js';
import { NodeActions } from './actions-view.js';

/**
 * Whether the node is fenced, as far as the manager can know. A silent node's liveness
 * lease ran out, and a node stops serving before that (its own lease is strictly shorter,
 * DESIGN §4): fenced, though the node itself notices only when it runs again. Otherwise
 * what its last heartbeat said.
 */
function fencedOf(n: FeedNode, isStale: boolean): { state: string; text: string; title: string } {
  const reported = n.load?.isFenced;
  if (!n.isLive && reported !== undefined) return { state: 'lease', text: 'yes (lease ran out)', title: 'the manager holds no live lease of the node: it stopped serving before that lease ran out' };
  if (isStale || reported === undefined) return { state: 'unknown', text: '–', title: 'no recent heartbeat' };
  return reported ? { state: 'reported', text: 'yes', title: 'its last heartbeat says it is fenced' } : { state: 'no', text: 'no', title: 'its last heartbeat says it serves' };
}

function Card({ n, isAdmin, now }: { n: FeedNode; isAdmin: boolean; now: number }): VNode {
  const load = n.load;
  const isStale = load === null || now - load.at > 10_000;
  const { state: fencedState, text: fencedText, title: fencedTitle } = fencedOf(n, isStale);
  return html`<article class=${`card state-${n.state} ${n.isLive ? 'live' : 'dead'}`} data-test="node-card" data-node=${n.id} data-state=${n.state} data-live=${String(n.isLive)}>
    <header>
      <b title=${n.id}>${shortId(n.id)}</b>
      <span class=${`badge ${n.state}`}>${n.state}</span>
      <${MetricLink} figure="isLive"><span class=${`badge ${n.isLive ? 'up' : 'down'}`}>${n.isLive ? 'live' : 'silent'}</span><//>
      ${fencedState === 'lease' || fencedState === 'reported' ? html`<span class="badge down" data-test="fenced-badge">fenced</span>` : null}
    </header>
    <div class="addr">${n.address}</div>
    <dl>
      <dt>zone</dt><dd>${n.zone === '' ? '–' : n.zone}</dd>
      <dt>weight</dt><dd>${n.weight}</dd>
      <dt><${MetricLink} figure="items">items<//></dt><dd data-test="items">${isStale ? '–' : fmtInt(load!.items)}</dd>
      <dt><${MetricLink} figure="memory">memory<//></dt><dd>${isStale ? '–' : fmtBytes(load!.memoryBytes)}</dd>
      <dt><${MetricLink} figure="requests">ops/s<//></dt><dd data-test="ops">${isStale ? '–' : fmtInt(n.opsPerSec)}</dd>
      <dt><${MetricLink} figure="p50">p50<//> / <${MetricLink} figure="p99">p99<//></dt><dd>${isStale ? '–' : `${fmtUs(load!.p50Us)} / ${fmtUs(load!.p99Us)}`}</dd>
      <dt><${MetricLink} figure="hints">hints pending<//></dt><dd data-test="hints">${isStale ? '–' : fmtInt(load!.hintsPending)}</dd>
      <dt><${MetricLink} figure="backfills">backfills<//></dt><dd>${n.backfilling === null ? '–' : n.backfilling}</dd>
      <dt><${MetricLink} figure="fenced">fenced<//></dt><dd data-test="fenced" data-fenced=${fencedState} title=${fencedTitle}>${fencedText}</dd>
      <dt>last fenced</dt><dd data-test="fenced-at" data-at=${load?.fencedAt ?? ''}>${load?.fencedAt === undefined ? 'never' : fmtTime(load.fencedAt)}</dd>
      <dt><${MetricLink} figure="appliedRev">map applied<//></dt><dd>${n.appliedRev ?? '–'}</dd>
    </dl>
    ${isAdmin ? html`<${NodeActions} node=${n} />` : null}
  </article>`;
}

export function NodeCards({ nodes, isAdmin, now }: { nodes: FeedNode[]; isAdmin: boolean; now: number }): VNode {
  const sorted = [...nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const live = nodes.filter((n) => n.isLive).length;
  return html`<section id="nodes" class="panel">
    <h2>Nodes <small><span data-test="node-count">${nodes.length}</span> known, ${live} live</small></h2>
    <div class="cards">${sorted.slice(0, 200).map((n) => html`<${Card} key=${n.id} n=${n} isAdmin=${isAdmin} now=${now} />`)}</div>
    ${sorted.length > 200 ? html`<p class="hint">${sorted.length - 200} more nodes not shown.</p>` : null}
  </section>`;
}
