/**
 * Entry of the dashboard bundle. `/ui` shows the live cluster; `/ui?synthetic=NxB` shows
 * a planner-made map of N nodes and 2^B buckets with no cluster behind it (the render
 * benchmark of the browser tests, and a way to look at big maps).
 */
import { render } from 'preact';
import { html } from 'htm/preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { App } from './app.js';
import { FeedClient } from './feed-client.js';
import { store } from './store.js';
import { syntheticMap } from '../what-if.js';
import { timings } from './timings.js';
import type { FeedNode } from '../feed-protocol.js';

function showSynthetic(spec: string): void {
  const m = /^(\d{1,4})x(\d{1,2})$/.exec(spec);
  const nodes = m === null ? 100 : Math.max(1, Math.min(1000, Number(m[1])));
  const bits = m === null ? 20 : Math.max(1, Math.min(32, Number(m[2])));
  let t0 = performance.now();
  const { map } = syntheticMap(nodes, 0, bits, 2);
  timings.planMs = performance.now() - t0;
  const feedNodes: FeedNode[] = map.nodes.map((n) => ({
    id: n.id, address: n.address, zone: n.zone, weight: n.weight, state: n.state, isLive: true,
    appliedRev: map.rev, backfilling: 0, copiedBytes: 0, load: null, opsPerSec: null,
  }));
  t0 = performance.now();
  store.set({ connection: 'synthetic', map, nodes: feedNodes, manager: `synthetic ${nodes} nodes, 2^${bits} buckets` });
  // Until the map is drawn, and the frame after it painted: layout and paint included.
  const afterDrawn = (): void => {
    if (timings.drawnAt === null) {
      requestAnimationFrame(afterDrawn);
      return;
    }
    requestAnimationFrame(() => setTimeout(() => {
      timings.firstRenderMs = performance.now() - t0;
    }, 0));
  };
  requestAnimationFrame(afterDrawn);
}

const root = document.getElementById('app')!;
root.textContent = '';
const synthetic = new URLSearchParams(location.search).get('synthetic');
if (synthetic !== null) {
  render(html`<${App} feed=${null} />`, root);
  showSynthetic(synthetic);
} else {
  const feed = new FeedClient(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ui/live`);
  render(html`<${App} feed=${feed} />`, root);
  feed.start();
}
