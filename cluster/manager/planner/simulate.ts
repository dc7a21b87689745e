/**
 * `pandakv plan`: the planner as an offline what-if (DESIGN §5). Builds a cluster with no
 * process running, applies a change (nodes added, removed, failed) and prints the moves
 * and the balance before and after.
 */
import { Encoder } from 'cbor-x';
import { numberArg, parseCommandLine, UsageError } from '../../../bin/cli-util.js';
import { chainOf, type ClusterMap } from '../../../shared/cluster-map.js';
import { balanceReport, plan, promoteOnly, type BalanceReport, type PlannedMove, type PlannerNode } from './plan.js';
import { renderTable, type Cell } from './text-table.js';

export const PLAN_USAGE = `Usage: pandakv plan [switches]

Runs the planner on a simulated cluster (nothing is started): builds the cluster,
applies the change and prints the moves and the balance before and after.

  --nodes N          nodes of the initial cluster (default 10)
  --add K            nodes to add (default 0)
  --remove K         nodes to remove gracefully: the last K initial nodes (default 0)
  --fail K           nodes that fail: the first K initial nodes; a promote-only map
                     comes first, then a plan restores the copies (default 0)
  --zones Z          spread the nodes round-robin over Z zones (default 0: no zones)
  --weights LIST     comma-separated weights of the initial nodes, then of the added
                     ones, repeated as needed (default 1)
  --redundancy R     copies of each item (default 2)
  --bits N           bucket bits (default 24)
  --json             print the result as JSON
  --help             print this text
`;

export interface SimulationOptions {
  nodes: number;
  add: number;
  remove: number;
  fail: number;
  zones: number;
  weights: number[];
  redundancy: number;
  bits: number;
}

/** Parse `pandakv plan` switches. @throws UsageError */
export function parseSimulationArgs(argv: string[]): (SimulationOptions & { isJson: boolean }) | 'help' {
  const { values, positionals } = parseCommandLine(argv, {
    nodes: { type: 'string' }, add: { type: 'string' }, remove: { type: 'string' }, fail: { type: 'string' },
    zones: { type: 'string' }, weights: { type: 'string' }, redundancy: { type: 'string' }, bits: { type: 'string' },
    json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const count = (name: string, fallback: number, min = 0, max = 10_000): number =>
    numberArg(values, name, (n) => Number.isInteger(n) && n >= min && n <= max) ?? fallback;
  const options: SimulationOptions & { isJson: boolean } = {
    nodes: count('nodes', 10, 1), add: count('add', 0), remove: count('remove', 0), fail: count('fail', 0),
    zones: count('zones', 0, 0, 1000), redundancy: count('redundancy', 2, 1, 8), bits: count('bits', 24, 1, 48),
    weights: [1], isJson: values.json === true,
  };
  if (values.weights !== undefined) {
    const text = String(values.weights);
    options.weights = text.split(',').map((w) => Number(w.trim()));
    if (options.weights.some((w) => !Number.isFinite(w) || w <= 0)) throw new UsageError(`--weights: invalid list "${text}"`);
  }
  if (options.remove + options.fail >= options.nodes + options.add) {
    throw new UsageError('--remove and --fail must leave at least one node');
  }
  if (options.remove + options.fail > options.nodes) throw new UsageError('--remove and --fail apply to the initial nodes only');
  return options;
}

interface NodeRow {
  id: string;
  zone: string;
  weight: number;
  state: string;
  activeBefore: number;
  activeAfter: number;
  replicaBefore: number;
  replicaAfter: number;
  movesIn: number;
  movesOut: number;
  activeRatio: number | null;
  replicaRatio: number | null;
}

export interface SimulationResult {
  options: SimulationOptions;
  unitBits: { before: number; after: number };
  /** Present when nodes failed: what the promote-only map did. */
  failover: { promotedUnits: number; lostUnits: number } | null;
  moves: { active: number; replica: number; idealActive: number; idealReplica: number };
  balance: { before: BalanceSummary; after: BalanceSummary };
  nodes: NodeRow[];
  map: { runs: number; chains: number; cborBytes: number; epoch: number; rev: number };
  warnings: string[];
}

interface BalanceSummary {
  maxActiveRatio: number;
  minActiveRatio: number;
  maxReplicaRatio: number;
  minReplicaRatio: number;
}

function summary(b: BalanceReport): BalanceSummary {
  return { maxActiveRatio: b.maxActiveRatio, minActiveRatio: b.minActiveRatio, maxReplicaRatio: b.maxReplicaRatio, minReplicaRatio: b.minReplicaRatio };
}

function makeNodes(o: SimulationOptions): PlannerNode[] {
  const total = o.nodes + o.add;
  const digits = String(total - 1).length;
  return Array.from({ length: total }, (_, i) => ({
    id: `node-${String(i).padStart(digits, '0')}`,
    address: `ws://10.0.${Math.floor(i / 250)}.${(i % 250) + 1}:7000`,
    peerKey: null,
    zone: o.zones > 0 ? `z${i % o.zones}` : '',
    weight: o.weights[i % o.weights.length]!,
    state: 'active',
  }));
}

/** Units whose active node differs between two maps of the same grain. */
function countActiveChanges(before: ClusterMap, after: ClusterMap): number {
  const size = 2 ** (before.bits - before.unitBits);
  let changed = 0;
  for (let u = 0; u < 2 ** before.unitBits; u++) {
    const a = chainOf(before, u * size)[0]!;
    const b = chainOf(after, u * size)[0]!;
    if (before.nodes[a]!.id !== after.nodes[b]!.id) changed++;
  }
  return changed;
}

/** Run the simulation and return its figures. */
export function simulate(o: SimulationOptions): SimulationResult {
  const all = makeNodes(o);
  const initial = all.slice(0, o.nodes);
  const first = plan({ previous: null, nodes: initial, redundancy: o.redundancy, bits: o.bits });
  const failedIds = new Set(initial.slice(0, o.fail).map((n) => n.id));
  const removedIds = new Set(initial.slice(o.nodes - o.remove).map((n) => n.id));
  const changed: PlannerNode[] = all.map((n) => {
    if (failedIds.has(n.id)) return { ...n, state: 'failed' };
    if (removedIds.has(n.id)) return { ...n, state: 'leaving' };
    return n;
  });
  let start = first.map;
  let failover: SimulationResult['failover'] = null;
  if (failedIds.size > 0) {
    const promoted = promoteOnly(first.map, failedIds);
    failover = { promotedUnits: countActiveChanges(first.map, promoted.map), lostUnits: promoted.lostUnits.length };
    start = promoted.map;
  }
  const next = plan({ previous: start, nodes: changed, redundancy: o.redundancy });
  const before = balanceReport(first.map);
  const after = next.balance;
  const scale = 2 ** (next.map.unitBits - first.map.unitBits);
  const moved = (id: string, pick: (m: PlannedMove) => string | null): number => next.moves.filter((m) => pick(m) === id).length;
  const nodes: NodeRow[] = after.nodes.map((n) => {
    const old = before.nodes.find((b) => b.id === n.id);
    return {
      id: n.id, zone: n.zone, weight: n.weight, state: n.state,
      activeBefore: (old?.activeUnits ?? 0) * scale, activeAfter: n.activeUnits,
      replicaBefore: (old?.replicaUnits ?? 0) * scale, replicaAfter: n.replicaUnits,
      movesIn: moved(n.id, (m) => m.to), movesOut: moved(n.id, (m) => m.from),
      activeRatio: n.activeRatio, replicaRatio: n.replicaRatio,
    };
  });
  const weight = (list: PlannerNode[]): number => list.reduce((s, n) => s + n.weight, 0);
  const placeable = changed.filter((n) => n.state === 'active');
  const addedShare = weight(all.slice(o.nodes)) / weight(placeable);
  const copies = Math.min(o.redundancy, placeable.length);
  const active = next.moves.filter((m) => m.role === 'active').length;
  return {
    options: o,
    unitBits: { before: first.map.unitBits, after: next.map.unitBits },
    failover,
    moves: {
      active, replica: next.moves.length - active,
      idealActive: after.units * addedShare, idealReplica: after.units * addedShare * (copies - 1),
    },
    balance: { before: summary(before), after: summary(after) },
    nodes,
    map: {
      runs: next.map.runStarts.length, chains: next.map.chains.length, epoch: next.map.epoch, rev: next.map.rev,
      cborBytes: new Encoder({ useRecords: false, variableMapSize: true }).encode(next.map).length,
    },
    warnings: [...new Set([...first.warnings, ...next.warnings])],
  };
}

const ratio = (r: number | null): Cell => (r === null ? '-' : r);

/** The human-readable report of a simulation. */
export function formatSimulation(r: SimulationResult): string {
  const o = r.options;
  const out: string[] = [];
  const grain = r.unitBits.before === r.unitBits.after ? `2^${r.unitBits.after}` : `2^${r.unitBits.before} → 2^${r.unitBits.after} (split in place)`;
  out.push(`cluster: ${o.nodes} nodes, ${o.zones > 0 ? `${o.zones} zones` : 'no zones'}, redundancy ${o.redundancy}, 2^${o.bits} buckets, ${grain} units`);
  out.push(`change: +${o.add} added, ${o.remove} removed, ${o.fail} failed`);
  if (r.failover) out.push(`failover: ${r.failover.promotedUnits} units promoted to a replica, ${r.failover.lostUnits} units lost`);
  const ideal = o.add > 0 ? ` (ideal for the join: ${r.moves.idealActive.toFixed(1)} active, ${r.moves.idealReplica.toFixed(1)} replica)` : '';
  out.push(`moves: ${r.moves.active} active, ${r.moves.replica} replica${ideal}`);
  out.push('');
  out.push(renderTable(
    ['node', 'zone', 'weight', 'state', 'active', 'after', 'replica', 'after', 'in', 'out', 'active/quota', 'replica/quota'],
    r.nodes.map((n) => [n.id, n.zone || '-', n.weight, n.state, n.activeBefore, n.activeAfter, n.replicaBefore, n.replicaAfter,
      n.movesIn, n.movesOut, ratio(n.activeRatio), ratio(n.replicaRatio)]),
    2,
  ));
  out.push('');
  const b = r.balance;
  out.push(renderTable(['balance (max/mean by weight)', 'before', 'after'], [
    ['active max', b.before.maxActiveRatio, b.after.maxActiveRatio],
    ['active min', b.before.minActiveRatio, b.after.minActiveRatio],
    ['replica max', b.before.maxReplicaRatio, b.after.maxReplicaRatio],
    ['replica min', b.before.minReplicaRatio, b.after.minReplicaRatio],
  ]));
  out.push('');
  out.push(`map: epoch ${r.map.epoch}, rev ${r.map.rev}, ${r.map.runs} runs, ${r.map.chains} chains, ${r.map.cborBytes} bytes as CBOR`);
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}

/** `pandakv plan`. Usage errors throw `UsageError` (exit code 2, set by the caller). */
export async function simulateMain(argv: string[]): Promise<number> {
  const options = parseSimulationArgs(argv);
  if (options === 'help') {
    process.stdout.write(PLAN_USAGE);
    return 0;
  }
  const { isJson, ...simulation } = options;
  const result = simulate(simulation);
  process.stdout.write(isJson ? `${JSON.stringify(result, null, 2)}\n` : formatSimulation(result));
  return 0;
}
