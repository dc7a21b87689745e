/**
 * The planner (DESIGN §5): a pure function from the previous map and the known nodes to
 * the next map, the moves that get there, and warnings. No I/O, no clock, no randomness:
 * the same input always gives the same map, and planning an unchanged cluster again
 * returns the map unchanged (same epoch and rev).
 *
 * Steps: node list (stable indexes) → unit grain → actives by weighted quota → replicas
 * by weighted quota under the zone rule → runs. See docs/planner.md.
 */
import { holdingNodes, type ClusterMap, type MapNode } from '../../../shared/cluster-map.js';
import { balanceReport } from './balance.js';
import type { PlacementContext } from './context.js';
import { diffUnits } from './diff.js';
import { buildDomains } from './domains.js';
import { buildNodeTable, isPlaceableState } from './node-table.js';
import { placeActives } from './place-actives.js';
import { placeReplicas, zoneAllowance } from './place-replicas.js';
import type { PlanInput, PlanResult } from './types.js';
import { chooseUnitBits } from './unit-bits.js';
import { compressRuns, expandMap, type UnitChains } from './unit-chains.js';

export { balanceReport } from './balance.js';
export { promoteOnly, type UnitSeqnos } from './promote.js';
export { splitBuckets } from './split.js';
export type { BalanceReport, NodeBalance, PlannedMove, PlannerNode, PlanInput, PlanResult } from './types.js';

/** Bucket bits of a new cluster. */
export const DEFAULT_BITS = 24;
/** Largest bucket bits accepted for a new cluster. */
export const MAX_NEW_BITS = 48;

function checkInput(input: PlanInput): void {
  if (!Number.isInteger(input.redundancy) || input.redundancy < 1) throw new RangeError(`planner: redundancy must be an integer ≥ 1, got ${input.redundancy}`);
  const bits = input.bits;
  if (bits !== undefined && (!Number.isInteger(bits) || bits < 0 || bits > MAX_NEW_BITS)) throw new RangeError(`planner: bits must be an integer 0..${MAX_NEW_BITS}, got ${bits}`);
}

function zoneWarnings(ctx: PlacementContext, copies: number, warnings: string[]): void {
  const { domains } = ctx;
  if (!domains.hasZones) return;
  if (copies > domains.zoneCount) warnings.push(`${copies} copies over ${domains.zoneCount} zones: replicas of a unit may share a zone`);
  if (ctx.placeable.some((i) => ctx.nodes[i]!.zone === '')) warnings.push('some nodes have no zone; they count as one zone named ""');
  const allowance = zoneAllowance(ctx);
  for (let d = 0; d < domains.count; d++) {
    if (allowance[d]! > 0) {
      const outside = ctx.placeable.length - domains.sizes[d]!;
      warnings.push(`${domains.labels[d]}: only ${outside} placeable node(s) outside it, so units active there keep ${allowance[d]} replica(s) inside it`);
    }
  }
}

/**
 * Nodes whose share was changed on purpose since `previous`: new, back from leaving or
 * failed, weight or zone changed, or all of them when the redundancy changed.
 */
function reshapedNodes(previous: ClusterMap | null, nodes: readonly MapNode[], copies: number, pulling: ReadonlySet<string>): Uint8Array {
  const out = new Uint8Array(nodes.length);
  let previousCopies = 0;
  for (const chain of previous?.chains ?? []) previousCopies = Math.max(previousCopies, chain.length);
  // A node the previous map lists but gives nothing (the manager published its join
  // before placing it) is as new as one it does not list: it pulls its share.
  const holding = previous === null ? new Set<number>() : holdingNodes(previous);
  nodes.forEach((n, i) => {
    const before = previous?.nodes[i];
    if (!isPlaceableState(n.state)) return;
    if (!before || previousCopies !== copies || before.weight !== n.weight || before.zone !== n.zone
      || !isPlaceableState(before.state) || !holding.has(i) || pulling.has(n.id)) out[i] = 1;
  });
  return out;
}

/** Explain domains whose weighted share of replicas the zone rule cannot honour. */
function shareWarnings(ctx: PlacementContext, shares: Float64Array, warnings: string[]): void {
  if (ctx.width === 0) return;
  const { domains } = ctx;
  const share = new Float64Array(domains.count);
  const weight = new Float64Array(domains.count);
  let total = 0;
  for (const i of ctx.placeable) {
    share[domains.of[i]!]! += shares[i]!;
    weight[domains.of[i]!]! += ctx.weights[i]!;
    total += ctx.weights[i]!;
  }
  const slots = ctx.units * ctx.width;
  for (let d = 0; d < domains.count; d++) {
    const ratio = share[d]! / ((slots * weight[d]!) / total);
    if (ratio < 0.99) {
      warnings.push(`${domains.labels[d]} can hold only ${(ratio * 100).toFixed(0)}% of its weighted share of replicas (too few units active elsewhere); the others hold more`);
    }
  }
}

/** Plan the next map. @throws RangeError on invalid input or when no node can hold units. */
export function plan(input: PlanInput): PlanResult {
  checkInput(input);
  const { previous } = input;
  const warnings: string[] = [];
  const table = buildNodeTable(previous, input.nodes);
  if (table.placeable.length === 0) throw new RangeError('planner: no node can hold units (every node is failed or leaving)');
  // An existing map keeps its bits (splitBuckets raises them); `input.bits` is for a new cluster.
  const bits = previous ? previous.bits : (input.bits ?? DEFAULT_BITS);
  const weights = new Float64Array(table.nodes.length);
  for (const i of table.placeable) weights[i] = table.nodes[i]!.weight;
  const unitBits = chooseUnitBits({
    bits, previous: previous ? previous.unitBits : null, requested: input.unitBits,
    weights: table.placeable.map((i) => weights[i]!),
  }, warnings);
  const copies = Math.min(input.redundancy, table.placeable.length);
  if (copies < input.redundancy) warnings.push(`redundancy ${input.redundancy} but only ${table.placeable.length} placeable node(s): units keep ${copies} cop${copies === 1 ? 'y' : 'ies'}`);
  const ctx: PlacementContext = {
    nodes: table.nodes, placeable: table.placeable, isPlaceable: table.isPlaceable, weights,
    domains: buildDomains(table.nodes, table.placeable), units: 2 ** unitBits, width: copies - 1,
    isReshaped: reshapedNodes(previous, table.nodes, copies, new Set(input.pulling ?? [])),
  };
  zoneWarnings(ctx, copies, warnings);

  let old: UnitChains | null = null;
  let isAligned = true;
  if (previous) ({ chains: old, isAligned } = expandMap(previous, unitBits));
  if (!isAligned) warnings.push('the previous map has runs that do not start on unit boundaries; each unit follows its first bucket');
  const { active, dirty } = placeActives(ctx, old);
  const { replicas, shares, stretch, overCap, overflows } = placeReplicas(ctx, old, active, dirty);
  shareWarnings(ctx, shares, warnings);
  if (stretch > 1) warnings.push(`replicas cannot be balanced under the zone rule: a node may hold up to ${stretch.toFixed(2)}× its attainable share of replicas`);
  if (overCap > 0) warnings.push(`${overCap} replica(s) stay above their node's cap: balancing them would move other units' copies`);
  if (overflows > 0) warnings.push(`${overflows} replica(s) placed beyond their node's target for lack of a fitting unit`);
  const next: UnitChains = { units: ctx.units, width: ctx.width, active, replicas };
  const diff = diffUnits(table.nodes, old, next);

  const isChanged = !previous || table.isChanged || !isAligned || unitBits !== previous.unitBits || diff.isChanged;
  let map: ClusterMap;
  if (!isChanged) {
    map = structuredClone(previous);
  } else {
    const runs = compressRuns(next, bits, unitBits);
    map = {
      // Realigned runs hand some buckets to another active, so they count as an ownership change.
      epoch: previous ? previous.epoch + (diff.isActiveChanged || !isAligned ? 1 : 0) : 1,
      rev: previous ? previous.rev + 1 : 1,
      bits, unitBits, nodes: table.nodes, chains: runs.chains, runStarts: runs.runStarts, runChains: runs.runChains, moves: [],
    };
  }
  return { map, moves: diff.moves, warnings, balance: balanceReport(map) };
}
