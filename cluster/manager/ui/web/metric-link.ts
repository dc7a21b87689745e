/** A figure's label linked to its metric name (the catalogue at the bottom of the page). */
import { html } from 'htm/preact';
import type { ComponentChildren, VNode } from 'preact';
import { METRICS, type FigureName } from '../metric-names.js';

export function MetricLink({ figure, children }: { figure: FigureName; children: ComponentChildren }): VNode {
  const m = METRICS[figure];
  return html`<a class="metric" href=${`#metric-${m.name}`} title=${`${m.name}: ${m.help}`} data-metric=${m.name}>${children}</a>`;
}

export function MetricsCatalogue(): VNode {
  return html`<section id="metrics" class="panel">
    <h2>Where the figures come from</h2>
    <p class="hint">Every figure above links here. The manager's <a href="/metrics">/metrics</a> exports each under its name; grep the name to find the line that counts it.</p>
    <table class="grid">
      <thead><tr><th>metric</th><th>meaning</th><th>counted in</th></tr></thead>
      <tbody>${Object.values(METRICS).map((m) => html`<tr id=${`metric-${m.name}`}><td><code>${m.name}</code></td><td>${m.help}</td><td><code>${m.source}</code>${m.isOnMetrics ? '' : html` <small>(not on /metrics)</small>`}</td></tr>`)}</tbody>
    </table>
  </section>`;
}
