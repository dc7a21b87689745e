/** `pandakv plan`: the command line of the offline planner simulation (cluster/manager/planner/simulate.ts). */
import { numberArg, parseCommandLine, UsageError } from '../cli-util.js';
import { simulate, type SimulationOptions, type SimulationResult } from '../../cluster/manager/planner/simulate.js';
import { renderTable, type Cell } from '../../cluster/manager/planner/text-table.js';

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
export async function planMain(argv: string[]): Promise<number> {
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
