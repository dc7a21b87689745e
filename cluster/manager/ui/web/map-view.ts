/**
 * The map as units × nodes on a canvas: one row per node, one pixel column per group of
 * units (see ../map-grid.ts), dark for active copies, light for replicas, orange for
 * units in motion, and the followed key's unit marked in red. Drawn into an ImageData
 * in one pass, so a 100-node, 2^20-bucket map costs a few milliseconds.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { chainOf, type ClusterMap } from '../../../../shared/cluster-map.js';
import { CELL, mapGrid, type MapGrid } from '../map-grid.js';
import { fmtInt, shortId } from './format.js';
import { MetricLink } from './metric-link.js';
import { timings } from './timings.js';

/** Widest grid drawn, in columns (pixels). */
const MAX_COLUMNS = 960;
const COLORS: Record<number, [number, number, number]> = {
  [CELL.NONE]: [244, 245, 247],
  [CELL.REPLICA]: [147, 187, 236],
  [CELL.ACTIVE]: [29, 78, 156],
  [CELL.MOVING]: [240, 140, 30],
};
const STATE_COLORS: Record<string, string> = { active: '#1d4e9c', joining: '#2a9d8f', leaving: '#b08900', failed: '#c0392b' };

function rowHeight(nodes: number): number {
  return Math.max(3, Math.min(18, Math.floor(480 / Math.max(1, nodes))));
}

function draw(canvas: HTMLCanvasElement, grid: MapGrid, rowH: number, followedColumn: number | null, chain: ReadonlySet<number>): void {
  const width = grid.columns;
  const height = grid.nodes * rowH;
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (ctx === null || width === 0 || height === 0) return;
  const img = ctx.createImageData(width, height);
  // One 32-bit write per pixel (RGBA bytes in memory order: little-endian ABGR).
  const px = new Uint32Array(img.data.buffer);
  const abgr = Object.values(CELL).map((c) => {
    const [r, g, b] = COLORS[c]!;
    return ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0;
  });
  // Leave a one-pixel gap under each row when rows are tall enough to see it.
  const lines = rowH >= 6 ? rowH - 1 : rowH;
  for (let node = 0; node < grid.nodes; node++) {
    const cells = grid.cells.subarray(node * grid.columns, (node + 1) * grid.columns);
    const top = node * rowH * width;
    for (let col = 0; col < width; col++) px[top + col] = abgr[cells[col]!]!;
    // The row's other lines are copies of its first.
    for (let y = 1; y < lines; y++) px.copyWithin(top + y * width, top, top + width);
  }
  ctx.putImageData(img, 0, 0);
  if (followedColumn !== null) {
    ctx.fillStyle = 'rgba(220, 30, 30, 0.25)';
    ctx.fillRect(followedColumn - 1, 0, 3, height);
    ctx.fillStyle = 'rgb(220, 30, 30)';
    for (const node of chain) ctx.fillRect(Math.max(0, followedColumn - 2), node * rowH, 5, Math.max(2, rowH - 1));
  }
}

export interface MapViewProps {
  map: ClusterMap;
  followedUnit: number | null;
}

export function MapView({ map, followedUnit }: MapViewProps): VNode {
  const canvas = useRef<HTMLCanvasElement>(null);
  const [hover, setHover] = useState<string | null>(null);
  const grid = useMemo(() => {
    const t0 = performance.now();
    const g = mapGrid(map, MAX_COLUMNS);
    timings.gridMs = performance.now() - t0;
    return g;
  }, [map]);
  const rowH = rowHeight(map.nodes.length);
  const followedColumn = followedUnit === null ? null : Math.floor(followedUnit / grid.unitsPerColumn);
  const chain = useMemo(() => {
    if (followedUnit === null) return new Set<number>();
    return new Set(chainOf(map, followedUnit * 2 ** (map.bits - map.unitBits)));
  }, [map, followedUnit]);
  useEffect(() => {
    if (canvas.current === null) return;
    const t0 = performance.now();
    draw(canvas.current, grid, rowH, followedColumn, chain);
    timings.drawMs = performance.now() - t0;
    timings.drawnAt = performance.now();
    timings.drawnRev = map.rev;
    timings.drawnFollow = followedUnit;
  }, [grid, rowH, followedColumn, chain]);

  const onMove = (ev: MouseEvent): void => {
    const c = canvas.current;
    if (c === null) return;
    const rect = c.getBoundingClientRect();
    const col = Math.floor(((ev.clientX - rect.left) / rect.width) * grid.columns);
    const node = Math.floor(((ev.clientY - rect.top) / rect.height) * grid.nodes);
    const n = map.nodes[node];
    if (n === undefined || col < 0 || col >= grid.columns) return;
    const first = col * grid.unitsPerColumn;
    const role = ['no copy', 'replica', 'active', 'moving'][grid.cells[node * grid.columns + col]!];
    setHover(`${n.id} · units ${first}–${first + grid.unitsPerColumn - 1} · ${role}`);
  };

  const units = 2 ** map.unitBits;
  const activeTotal = grid.activeUnits.reduce((a, b) => a + b, 0);
  const replicaTotal = grid.replicaUnits.reduce((a, b) => a + b, 0);
  return html`<section id="map" class="panel">
    <h2>Map <small>
      <${MetricLink} figure="epoch">epoch <b data-test="epoch">${map.epoch}</b><//> ·
      <${MetricLink} figure="rev">rev <b data-test="rev">${map.rev}</b><//> ·
      2^${map.bits} buckets · ${fmtInt(units)} units (${grid.unitsPerColumn} per column) · <${MetricLink} figure="nodes">${map.nodes.length} nodes<//> · <${MetricLink} figure="moves">${map.moves.length} in motion<//>
    </small></h2>
    <div class="map-wrap">
      <div class="map-labels" style=${{ gridAutoRows: `${rowH}px` }}>
        ${rowH >= 10 ? map.nodes.map((n, i) => html`<div class="map-label" title=${n.id}>
          <span class="dot" style=${{ background: STATE_COLORS[n.state] }}></span>${shortId(n.id)} <small>${grid.activeUnits[i]}/${grid.replicaUnits[i]}</small></div>`) : null}
      </div>
      <canvas ref=${canvas} class="map-canvas" data-test="map-canvas" data-nodes=${grid.nodes} data-columns=${grid.columns}
        data-units=${units} data-active-total=${activeTotal} data-replica-total=${replicaTotal} data-epoch=${map.epoch} data-moves=${map.moves.length}
        style=${{ height: `${grid.nodes * rowH}px` }} onMouseMove=${onMove} onMouseLeave=${() => setHover(null)}></canvas>
    </div>
    <p class="legend"><span class="sw active"></span>active <span class="sw replica"></span>replica <span class="sw moving"></span>in motion <span class="sw followed"></span>followed key
      <span class="hover">${hover ?? 'point at the map for a node and its units'}</span></p>
    ${map.moves.length > 0 ? html`<details open class="moves">
      <summary>${map.moves.length} units in motion</summary>
      <table class="grid" data-test="moves"><thead><tr><th>unit</th><th>from</th><th>to</th><th>phase</th></tr></thead>
      <tbody>${map.moves.slice(0, 50).map((m) => html`<tr><td>${m.unit}</td><td title=${map.nodes[m.from]?.id}>${shortId(map.nodes[m.from]?.id ?? '?')}</td>
        <td title=${map.nodes[m.to]?.id}>${m.to === m.from ? 'same active, a copy added' : shortId(map.nodes[m.to]?.id ?? '?')}</td><td>${m.phase}</td></tr>`)}</tbody></table>
    </details>` : null}
  </section>`;
}
