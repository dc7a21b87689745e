/**
 * Ops/s and latency per node over the last minutes, one uPlot chart each (a small canvas
 * chart library: thousands of points redraw in a millisecond or two). The series follow
 * the node set; a chart is rebuilt only when that set changes.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { NodeHistory } from './store.js';
import type { FigureName } from '../metric-names.js';
import { MetricLink } from './metric-link.js';
import { shortId } from './format.js';

const PALETTE = ['#1d4e9c', '#e76f51', '#2a9d8f', '#8e44ad', '#f4a261', '#c0392b', '#16a085', '#7f8c8d', '#d35400', '#2c3e50'];

type Pick = (h: NodeHistory) => Array<number | null>;

function Chart({ title, figure, ids, history, pick, unit }: { title: string; figure: FigureName; ids: string[]; history: Map<string, NodeHistory>; pick: Pick; unit: string }): VNode {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<uPlot | null>(null);
  const idsKey = ids.join(',');

  const data = (): uPlot.AlignedData => {
    // Every node's history is sampled on the same ticks; the longest one gives the x axis.
    let xs: number[] = [];
    for (const id of ids) {
      const h = history.get(id);
      if (h !== undefined && h.at.length > xs.length) xs = h.at;
    }
    const series = ids.map((id) => {
      const h = history.get(id);
      const ys = h === undefined ? [] : pick(h);
      const pad = xs.length - ys.length;
      return pad > 0 ? [...new Array<null>(pad).fill(null), ...ys] : ys;
    });
    return [xs, ...series] as uPlot.AlignedData;
  };

  useEffect(() => {
    if (box.current === null) return;
    const opts: uPlot.Options = {
      width: Math.max(320, box.current.clientWidth || 560), height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: unit, size: 60 }],
      series: [{}, ...ids.map((id, i) => ({ label: shortId(id), stroke: PALETTE[i % PALETTE.length]!, width: 1.5, spanGaps: false }))],
      legend: { live: false },
    };
    chart.current = new uPlot(opts, data(), box.current);
    return () => {
      chart.current?.destroy();
      chart.current = null;
    };
  }, [idsKey]);

  useEffect(() => {
    chart.current?.setData(data());
  }, [history]);

  return html`<figure class="chart">
    <figcaption><${MetricLink} figure=${figure}>${title}<//></figcaption>
    <div ref=${box} data-test=${`chart-${figure}`}></div>
  </figure>`;
}

/** How far back the charts go. */
function span(history: Map<string, NodeHistory>): string {
  let s = 0;
  for (const h of history.values()) if (h.at.length > 1) s = Math.max(s, h.at[h.at.length - 1]! - h.at[0]!);
  return s < 120 ? `last ${Math.round(s)} s` : `last ${Math.round(s / 60)} min`;
}

export function ChartsView({ ids, history }: { ids: string[]; history: Map<string, NodeHistory> }): VNode {
  const sorted = [...ids].sort().slice(0, PALETTE.length * 3);
  return html`<section id="charts" class="panel">
    <h2>Load per node <small>${span(history)}</small></h2>
    <div class="charts">
      <${Chart} title="ops/s" figure="requests" ids=${sorted} history=${history} pick=${(h: NodeHistory) => h.ops} unit="ops/s" />
      <${Chart} title="p99 latency" figure="p99" ids=${sorted} history=${history} pick=${(h: NodeHistory) => h.p99} unit="µs" />
      <${Chart} title="p50 latency" figure="p50" ids=${sorted} history=${history} pick=${(h: NodeHistory) => h.p50} unit="µs" />
    </div>
  </section>`;
}
