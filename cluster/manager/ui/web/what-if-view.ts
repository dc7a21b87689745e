/**
 * The what-if simulator: the manager's own planner (bundled, the same functions) on a
 * copy of the live map or on a synthetic cluster. Add, remove, fail nodes, change
 * weights, zones and redundancy, and see the moves, the balance before and after, and
 * the planner's warnings. Nothing here talks to the cluster.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { ClusterMap } from '../../../../shared/cluster-map.js';
import { redundancyOf, runWhatIf, type WhatIfChange, type WhatIfResult, type WhatIfStart } from '../what-if.js';
import { syntheticMap } from '../what-if.js';
import { fmtInt, shortId } from './format.js';

interface Edit {
  remove: boolean;
  fail: boolean;
  weight: string;
  zone: string;
}

const ratio = (r: number): string => r.toFixed(3);

export function WhatIfView({ live }: { live: ClusterMap | null }): VNode {
  // Until the operator picks, the live map when there is one.
  const [choice, setChoice] = useState<'live' | 'synthetic' | null>(null);
  const source = choice ?? (live === null ? 'synthetic' : 'live');
  const setSource = (s: 'live' | 'synthetic'): void => setChoice(s);
  const [syn, setSyn] = useState({ nodes: '10', zones: '0', bits: '20', redundancy: '2' });
  const [addCount, setAddCount] = useState('1');
  const [addZone, setAddZone] = useState('');
  const [addWeight, setAddWeight] = useState('1');
  const [copies, setCopies] = useState('');
  const [edits, setEdits] = useState<Record<string, Edit>>({});
  const [result, setResult] = useState<WhatIfResult | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [base, setBase] = useState<ClusterMap | null>(null);

  const start = (): { start: WhatIfStart; map: ClusterMap } => {
    if (source === 'live') {
      if (live === null) throw new Error('no live map yet');
      return { start: { kind: 'live', map: live }, map: live };
    }
    const map = base ?? syntheticMap(Number(syn.nodes), Number(syn.zones), Number(syn.bits), Number(syn.redundancy)).map;
    return { start: { kind: 'live', map }, map };
  };

  const nodesOf = (): ClusterMap['nodes'] => (source === 'live' ? live?.nodes ?? [] : base?.nodes ?? []);

  const edit = (id: string, patch: Partial<Edit>): void => {
    const cur = edits[id] ?? { remove: false, fail: false, weight: '', zone: '' };
    setEdits({ ...edits, [id]: { ...cur, ...patch } });
  };

  const build = (): void => {
    setError(null);
    try {
      setBase(syntheticMap(Number(syn.nodes), Number(syn.zones), Number(syn.bits), Number(syn.redundancy)).map);
      setEdits({});
      setResult(null);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const run = (): void => {
    setBusy(true);
    setError(null);
    // Let the page paint "planning…" before the planner takes the thread.
    window.setTimeout(() => {
      try {
        const s = start();
        const change: WhatIfChange = {
          add: Array.from({ length: Math.max(0, Number(addCount) || 0) }, () => ({ zone: addZone, weight: Number(addWeight) || 1 })),
          remove: Object.entries(edits).filter(([, e]) => e.remove).map(([id]) => id),
          fail: Object.entries(edits).filter(([, e]) => e.fail).map(([id]) => id),
          weights: Object.fromEntries(Object.entries(edits).filter(([, e]) => e.weight !== '').map(([id, e]) => [id, Number(e.weight)])),
          zones: Object.fromEntries(Object.entries(edits).filter(([, e]) => e.zone !== '').map(([id, e]) => [id, e.zone])),
          redundancy: copies === '' ? null : Number(copies),
        };
        setResult(runWhatIf(s.start, change, () => performance.now()));
      } catch (err) {
        setError(err instanceof Error ? err.message : String(err));
        setResult(null);
      } finally {
        setBusy(false);
      }
    }, 0);
  };

  const nodes = nodesOf();
  const startMap = source === 'live' ? live : base;
  return html`<section id="whatif" class="panel">
    <h2>What if… <small>the manager's planner, run in this page; the cluster is not touched</small></h2>
    <div class="row">
      <label><input type="radio" name="wi-src" data-test="whatif-live" disabled=${live === null} checked=${source === 'live'} onChange=${() => { setSource('live'); setEdits({}); setResult(null); }} /> from the live map</label>
      <label><input type="radio" name="wi-src" data-test="whatif-synthetic" checked=${source === 'synthetic'} onChange=${() => { setSource('synthetic'); setEdits({}); setResult(null); }} /> a synthetic cluster</label>
    </div>
    ${source === 'synthetic' ? html`<div class="row">
      ${(['nodes', 'zones', 'bits', 'redundancy'] as const).map((k) => html`<label>${k} <input type="number" min="0" value=${syn[k]} data-test=${`whatif-syn-${k}`} onInput=${(e: Event) => setSyn({ ...syn, [k]: (e.target as HTMLInputElement).value })} /></label>`)}
      <button data-test="whatif-build" onClick=${build}>Build</button>
    </div>` : null}
    ${startMap !== null ? html`<p class="hint" data-test="whatif-start">start: ${startMap.nodes.length} nodes, 2^${startMap.bits} buckets, ${fmtInt(2 ** startMap.unitBits)} units, ${redundancyOf(startMap)} copies</p>` : null}
    <div class="row">
      <label>add <input type="number" min="0" max="1000" value=${addCount} data-test="whatif-add" onInput=${(e: Event) => setAddCount((e.target as HTMLInputElement).value)} /> nodes</label>
      <label>zone <input value=${addZone} size="6" onInput=${(e: Event) => setAddZone((e.target as HTMLInputElement).value)} /></label>
      <label>weight <input type="number" min="0.1" step="0.1" value=${addWeight} onInput=${(e: Event) => setAddWeight((e.target as HTMLInputElement).value)} /></label>
      <label>copies <input type="number" min="1" max="8" placeholder="same" value=${copies} data-test="whatif-copies" onInput=${(e: Event) => setCopies((e.target as HTMLInputElement).value)} /></label>
      <button data-test="whatif-run" onClick=${run} disabled=${busy}>${busy ? 'Planning…' : 'Run the planner'}</button>
    </div>
    ${nodes.length > 0 ? html`<details><summary>change existing nodes (${nodes.length})</summary>
      <table class="grid"><thead><tr><th>node</th><th>zone</th><th>weight</th><th>remove</th><th>fail</th></tr></thead><tbody>
      ${nodes.slice(0, 200).map((n) => {
        const e = edits[n.id];
        return html`<tr data-node=${n.id}><td title=${n.id}>${shortId(n.id)} <small>${n.state}</small></td>
          <td><input size="6" placeholder=${n.zone} value=${e?.zone ?? ''} data-test="whatif-zone" onInput=${(ev: Event) => edit(n.id, { zone: (ev.target as HTMLInputElement).value })} /></td>
          <td><input type="number" min="0.1" step="0.1" placeholder=${String(n.weight)} value=${e?.weight ?? ''} data-test="whatif-weight" onInput=${(ev: Event) => edit(n.id, { weight: (ev.target as HTMLInputElement).value })} /></td>
          <td><input type="checkbox" checked=${e?.remove === true} data-test="whatif-remove" onChange=${(ev: Event) => edit(n.id, { remove: (ev.target as HTMLInputElement).checked })} /></td>
          <td><input type="checkbox" checked=${e?.fail === true} data-test="whatif-fail" onChange=${(ev: Event) => edit(n.id, { fail: (ev.target as HTMLInputElement).checked })} /></td></tr>`;
      })}</tbody></table></details>` : null}
    ${error !== null ? html`<p class="error">${error}</p>` : null}
    ${result !== null ? html`<${WhatIfResultView} r=${result} />` : null}
  </section>`;
}

function WhatIfResultView({ r }: { r: WhatIfResult }): VNode {
  return html`<div class="whatif-result" data-test="whatif-result">
    <p><b data-test="whatif-moves">${fmtInt(r.moves.length)}</b> moves: ${fmtInt(r.activeMoves)} active, ${fmtInt(r.replicaMoves)} replica
      ${r.failover !== null ? html` · failover promoted <span data-test="whatif-promoted">${fmtInt(r.failover.promotedUnits)}</span> units, lost ${fmtInt(r.failover.lostUnits)}` : ''}
      ${` · planned in ${r.planMs.toFixed(1)} ms`}</p>
    <table class="grid compact"><thead><tr><th></th><th>active max/min</th><th>replica max/min</th><th>stranded units</th></tr></thead><tbody>
      <tr><td>before</td><td>${ratio(r.before.maxActiveRatio)} / ${ratio(r.before.minActiveRatio)}</td><td>${ratio(r.before.maxReplicaRatio)} / ${ratio(r.before.minReplicaRatio)}</td><td>${fmtInt(r.before.strandedUnits)}</td></tr>
      <tr><td>after</td><td>${ratio(r.after.maxActiveRatio)} / ${ratio(r.after.minActiveRatio)}</td><td>${ratio(r.after.maxReplicaRatio)} / ${ratio(r.after.minReplicaRatio)}</td><td>${fmtInt(r.after.strandedUnits)}</td></tr>
    </tbody></table>
    ${r.warnings.length > 0 ? html`<ul class="warnings" data-test="whatif-warnings">${r.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : null}
    <table class="grid compact"><thead><tr><th>node</th><th>state</th><th>active before → after</th><th>replica before → after</th><th>in</th><th>out</th></tr></thead><tbody>
      ${r.nodes.slice(0, 100).map((n) => html`<tr data-test="whatif-node" data-node=${n.id} data-active-after=${n.activeAfter}><td title=${n.id}>${shortId(n.id)}</td><td>${n.state}</td><td>${fmtInt(n.activeBefore)} → ${fmtInt(n.activeAfter)}</td>
        <td>${fmtInt(n.replicaBefore)} → ${fmtInt(n.replicaAfter)}</td><td>${n.movesIn}</td><td>${n.movesOut}</td></tr>`)}
    </tbody></table>
    <details open><summary>moves (first 100 of ${fmtInt(r.moves.length)})</summary>
      <div class="scroll"><table class="grid compact" data-test="whatif-move-list"><thead><tr><th>unit</th><th>role</th><th>from</th><th>to</th></tr></thead><tbody>
      ${r.moves.slice(0, 100).map((m) => html`<tr><td>${m.unit}</td><td>${m.role}</td><td title=${m.from ?? ''}>${m.from === null ? '(new copy)' : shortId(m.from)}</td><td title=${m.to}>${shortId(m.to)}</td></tr>`)}
      </tbody></table></div></details>
  </div>`;
}
