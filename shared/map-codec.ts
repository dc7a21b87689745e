import { Decoder, Encoder } from 'cbor-x';
import type { ClusterMap, MapManager, MapNode, NodeState, UnitMove } from './cluster-map.js';

/**
 * Compact CBOR form of the cluster map (DESIGN §3) and of deltas between two maps.
 * Run starts are unit-aligned, so they travel as unit-number differences (mostly
 * one-byte integers); nodes and chains are positional arrays.
 */

/** Format 1: no manager list; format 2 appends the managers to the header. */
const FORMAT = 2;
const HEADER_LENGTH: Readonly<Record<number, number>> = Object.freeze({ 1: 8, 2: 9 });
const STATES: readonly NodeState[] = ['active', 'joining', 'leaving', 'failed'];
const PHASES: ReadonlyArray<UnitMove['phase']> = ['backfill', 'catchup', 'switch'];

const encoder = new Encoder({ useRecords: false, variableMapSize: true, tagUint8Array: false });
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });

/** Changes from one rev to another: unit ranges re-pointed to chains of the new table. */
export interface MapDelta {
  fromRev: number;
  fromEpoch: number;
  map: Omit<ClusterMap, 'runStarts' | 'runChains'>;
  /**
   * New index of each base chain (−1 when the chain is gone): units whose chain kept its
   * node ids need no patch even when the chain table was reordered.
   */
  remap: number[];
  /** `[firstUnit, endUnit, chainIndex]` ranges whose chain differs after remapping. */
  patches: Array<[number, number, number]>;
}

type WireNode = [string, string, string | null, string, number, number];

function nodeToWire(n: MapNode): WireNode {
  return [n.id, n.address, n.peerKey, n.zone, n.weight, STATES.indexOf(n.state)];
}

function nodeFromWire(w: unknown): MapNode {
  if (!Array.isArray(w) || w.length !== 6) throw new TypeError('bad node entry');
  const [id, address, peerKey, zone, weight, state] = w as unknown[];
  if (typeof id !== 'string' || typeof address !== 'string' || (peerKey !== null && typeof peerKey !== 'string')
    || typeof zone !== 'string' || typeof weight !== 'number' || typeof state !== 'number' || STATES[state] === undefined) {
    throw new TypeError('bad node entry');
  }
  return { id, address, peerKey, zone, weight, state: STATES[state]! };
}

function unitSize(map: { bits: number; unitBits: number }): number {
  return 2 ** (map.bits - map.unitBits);
}

function headerToWire(m: Omit<ClusterMap, 'runStarts' | 'runChains'>): unknown[] {
  return [
    FORMAT, m.epoch, m.rev, m.bits, m.unitBits,
    m.nodes.map(nodeToWire), m.chains,
    m.moves.map((mv) => [mv.unit, mv.from, mv.to, PHASES.indexOf(mv.phase)]),
    (m.managers ?? []).map((x) => [x.id, x.address, x.publicKey]),
  ];
}

/** Most managers a map lists. */
const MAX_MANAGERS = 64;

function managersFromWire(w: unknown): MapManager[] {
  if (!Array.isArray(w) || w.length > MAX_MANAGERS) throw new TypeError('bad manager list');
  return w.map((e): MapManager => {
    if (!Array.isArray(e) || e.length !== 3) throw new TypeError('bad manager entry');
    const [id, address, publicKey] = e as unknown[];
    if (typeof id !== 'string' || id.length === 0 || id.length > 128 || typeof address !== 'string' || !/^https?:\/\/\S{1,250}$/.test(address)
      || (publicKey !== null && !(typeof publicKey === 'string' && /^[0-9a-f]{64}$/.test(publicKey)))) {
      throw new TypeError('bad manager entry');
    }
    return { id, address, publicKey };
  });
}

/** Elements the header of a map of this format takes. @throws TypeError for an unknown format */
function headerLength(format: unknown): number {
  const n = typeof format === 'number' ? HEADER_LENGTH[format] : undefined;
  if (n === undefined) throw new TypeError(`unknown map format ${String(format)}`);
  return n;
}

function headerFromWire(a: unknown[]): Omit<ClusterMap, 'runStarts' | 'runChains'> {
  const [format, epoch, rev, bits, unitBits, nodes, chains, moves, managers] = a;
  if (a.length < headerLength(format)) throw new TypeError('short map header');
  if (!isUint(epoch) || !isUint(rev) || !isUint(bits) || bits > 32 || !isUint(unitBits) || unitBits > bits) throw new TypeError('bad map header');
  if (!Array.isArray(nodes) || !Array.isArray(chains) || !Array.isArray(moves)) throw new TypeError('bad map body');
  const nodeList = nodes.map(nodeFromWire);
  for (const c of chains) {
    if (!Array.isArray(c) || c.length === 0 || !c.every((i) => isUint(i) && i < nodeList.length)) throw new TypeError('bad chain');
  }
  const moveList = moves.map((mv): UnitMove => {
    if (!Array.isArray(mv) || mv.length !== 4 || !mv.every(isUint) || PHASES[mv[3] as number] === undefined) throw new TypeError('bad move');
    return { unit: mv[0] as number, from: mv[1] as number, to: mv[2] as number, phase: PHASES[mv[3] as number]! };
  });
  const header = { epoch, rev, bits, unitBits, nodes: nodeList, chains: chains as number[][], moves: moveList };
  if (format === 1) return header;
  const list = managersFromWire(managers);
  // An empty list is no list: maps without managers round-trip unchanged.
  return list.length === 0 ? header : { ...header, managers: list };
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Encode a full map. */
export function encodeMap(map: ClusterMap): Uint8Array {
  const size = unitSize(map);
  const starts: number[] = new Array(map.runStarts.length);
  let prev = 0;
  for (let i = 0; i < map.runStarts.length; i++) {
    const unit = map.runStarts[i]! / size;
    if (!Number.isInteger(unit)) return encoder.encode([...headerToWire(map), map.runStarts, map.runChains, 1]);
    starts[i] = unit - prev;
    prev = unit;
  }
  return encoder.encode([...headerToWire(map), starts, map.runChains, 0]);
}

/** Decode and validate a full map. @throws TypeError on anything malformed */
export function decodeMap(bytes: Uint8Array): ClusterMap {
  let a: unknown;
  try {
    a = decoder.decode(bytes);
  } catch (err) {
    throw new TypeError(`map is not valid CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(a)) throw new TypeError('map must be an array');
  const at0 = headerLength(a[0]);
  if (a.length !== at0 + 3) throw new TypeError(`map must be a ${at0 + 3}-element array`);
  const header = headerFromWire(a);
  const [starts, runChains, isBucketStarts] = a.slice(at0) as [unknown, unknown, unknown];
  if (!Array.isArray(starts) || !Array.isArray(runChains) || starts.length !== runChains.length || starts.length === 0) throw new TypeError('bad runs');
  const size = isBucketStarts === 1 ? 1 : unitSize(header);
  const runStarts: number[] = new Array(starts.length);
  let at = 0;
  const total = 2 ** header.bits;
  for (let i = 0; i < starts.length; i++) {
    const d = starts[i];
    if (!isUint(d)) throw new TypeError('bad run start');
    at = isBucketStarts === 1 ? d : at + d;
    const bucket = at * (isBucketStarts === 1 ? 1 : size);
    if (bucket >= total || (i > 0 && bucket <= runStarts[i - 1]!) || (i === 0 && bucket !== 0)) throw new TypeError('run starts must begin at 0 and increase');
    runStarts[i] = bucket;
    const c = runChains[i];
    if (!isUint(c) || c >= header.chains.length) throw new TypeError('bad run chain');
  }
  return { ...header, runStarts, runChains: runChains as number[] };
}

/** Chain index of every unit. */
export function unitChains(map: ClusterMap): Int32Array {
  const units = 2 ** map.unitBits;
  const size = unitSize(map);
  const out = new Int32Array(units);
  for (let i = 0; i < map.runStarts.length; i++) {
    const first = Math.floor(map.runStarts[i]! / size);
    const end = i + 1 < map.runStarts.length ? Math.floor(map.runStarts[i + 1]! / size) : units;
    out.fill(map.runChains[i]!, first, end);
  }
  return out;
}

/** Runs from per-unit chain indexes, merging equal neighbours. */
export function runsFromUnits(chains: Int32Array, unitBits: number, bits: number): { runStarts: number[]; runChains: number[] } {
  const size = 2 ** (bits - unitBits);
  const runStarts: number[] = [];
  const runChains: number[] = [];
  for (let u = 0; u < chains.length; u++) {
    if (u === 0 || chains[u] !== chains[u - 1]) {
      runStarts.push(u * size);
      runChains.push(chains[u]!);
    }
  }
  return { runStarts, runChains };
}

/**
 * The delta that turns `base` into `next`, or null when only a full map will do
 * (bucket or unit depth changed, or runs are not unit-aligned).
 */
export function diffMaps(base: ClusterMap, next: ClusterMap): MapDelta | null {
  if (base.bits !== next.bits || base.unitBits !== next.unitBits) return null;
  const size = unitSize(next);
  if (!base.runStarts.every((s) => s % size === 0) || !next.runStarts.every((s) => s % size === 0)) return null;
  const a = unitChains(base);
  const b = unitChains(next);
  const ids = (m: ClusterMap, c: number): string => m.chains[c]!.map((i) => m.nodes[i]!.id).join('\n');
  const byContent = new Map<string, number>();
  next.chains.forEach((_, c) => byContent.set(ids(next, c), c));
  const remap = base.chains.map((_, c) => byContent.get(ids(base, c)) ?? -1);
  const patches: Array<[number, number, number]> = [];
  for (let u = 0; u < b.length; u++) {
    if (remap[a[u]!] === b[u]) continue;
    const last = patches[patches.length - 1];
    if (last && last[1] === u && last[2] === b[u]) last[1] = u + 1;
    else patches.push([u, u + 1, b[u]!]);
  }
  const { runStarts: _s, runChains: _c, ...header } = next;
  return { fromRev: base.rev, fromEpoch: base.epoch, map: header, remap, patches };
}

/** Apply a delta to the map it was computed against. @throws TypeError when it does not fit */
export function applyDelta(base: ClusterMap, delta: MapDelta): ClusterMap {
  if (delta.fromRev !== base.rev || delta.fromEpoch !== base.epoch) throw new TypeError('delta is against another rev');
  const m = delta.map;
  if (m.bits !== base.bits || m.unitBits !== base.unitBits) throw new TypeError('delta changes the unit grid');
  if (delta.remap.length !== base.chains.length) throw new TypeError('delta remaps another chain table');
  // Work on runs, not units: a subscriber applies every delta it receives, and runs
  // number in the hundreds where units number in the tens of thousands.
  const size = unitSize(base);
  const total = 2 ** base.bits;
  const units = 2 ** base.unitBits;
  const chains = m.chains.length;
  // Patch boundaries in bucket space; patches are sorted and disjoint, so this is too.
  const patchBounds: number[] = [];
  let prevEnd = 0;
  for (const [first, end, chain] of delta.patches) {
    if (!isUint(first) || !isUint(end) || first < prevEnd || first >= end || end > units || !isUint(chain) || chain >= chains) throw new TypeError('bad patch');
    prevEnd = end;
    if (patchBounds[patchBounds.length - 1] !== first * size) patchBounds.push(first * size);
    if (end * size < total) patchBounds.push(end * size);
  }
  const starts = base.runStarts;
  const runStarts: number[] = [];
  const runChains: number[] = [];
  let i = 0; // next base run start
  let j = 0; // next patch boundary
  let bi = 0; // base run containing the boundary
  let pi = 0; // first patch not ending at or before the boundary
  // Walk the union of both boundary lists in order (a merge, no sort).
  while (i < starts.length || j < patchBounds.length) {
    const a = i < starts.length ? starts[i]! : Infinity;
    const b = j < patchBounds.length ? patchBounds[j]! : Infinity;
    const at = a < b ? a : b;
    if (a === at) i++;
    if (b === at) j++;
    while (bi + 1 < starts.length && starts[bi + 1]! <= at) bi++;
    while (pi < delta.patches.length && delta.patches[pi]![1] * size <= at) pi++;
    const patch = delta.patches[pi];
    const c = patch !== undefined && patch[0] * size <= at ? patch[2] : delta.remap[base.runChains[bi]!]!;
    if (c === undefined || c < 0 || c >= chains) throw new TypeError('delta leaves a unit on a missing chain');
    if (runChains.length === 0 || runChains[runChains.length - 1] !== c) {
      runStarts.push(at);
      runChains.push(c);
    }
  }
  return { ...m, runStarts, runChains };
}

/** Encode a delta for the wire. */
export function encodeDelta(d: MapDelta): Uint8Array {
  return encoder.encode([d.fromRev, d.fromEpoch, headerToWire(d.map), d.patches, d.remap]);
}

/** Decode a delta. @throws TypeError when malformed */
export function decodeDelta(bytes: Uint8Array): MapDelta {
  let a: unknown;
  try {
    a = decoder.decode(bytes);
  } catch (err) {
    throw new TypeError(`delta is not valid CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(a) || a.length !== 5 || !isUint(a[0]) || !isUint(a[1]) || !Array.isArray(a[2]) || !Array.isArray(a[3]) || !Array.isArray(a[4])) throw new TypeError('bad delta');
  const patches = a[3] as unknown[];
  for (const p of patches) if (!Array.isArray(p) || p.length !== 3 || !p.every(isUint)) throw new TypeError('bad patch');
  const remap = a[4] as unknown[];
  if (!remap.every((r) => r === -1 || isUint(r))) throw new TypeError('bad remap');
  return { fromRev: a[0], fromEpoch: a[1], map: headerFromWire(a[2] as unknown[]), patches: patches as Array<[number, number, number]>, remap: remap as number[] };
}
