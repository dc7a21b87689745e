import { Presets, SingleBar } from 'cli-progress';
import { parseCommandLine, numberArg, UsageError } from '../../bin/cli-util.js';

export const CLUSTER_USAGE = `Usage: pandakv cluster <command> [--manager URL] [switches]

  status                    nodes, states, map epoch/rev, progress
  add NODE                  place a registered node (id, id prefix or address)
  remove NODE               move a node's units away and drop it
  failover NODE             declare a node failed now
  split                     double the buckets (no data moves)
  rebalance [--stop]        re-plan and publish; --stop stops waiting for it
  set --redundancy R        change the copies per item

  --manager URL             manager address (default $PANDAKV_MANAGER or http://127.0.0.1:7070)
  --timeout-ms MS           how long to wait for nodes to apply a change (default 30000)
  --json                    print the raw JSON answer
`;

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

async function call(base: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<Answer> {
  let url = new URL(path, base).toString();
  for (let hop = 0; hop < 3; hop++) {
    const res = await fetch(url, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    const json = (await res.json()) as Record<string, unknown>;
    // A follower names the leader: ask it instead.
    if (res.status === 503 && typeof json.leader === 'string' && json.leader !== base) {
      url = new URL(path, json.leader).toString();
      continue;
    }
    return { status: res.status, body: json };
  }
  throw new Error('no leader answered');
}

function fail(a: Answer): never {
  const err = a.body.error as { code?: string; message?: string } | undefined;
  throw new Error(`${err?.code ?? `HTTP ${a.status}`}: ${err?.message ?? 'request failed'}`);
}

async function waitApplied(base: string, timeoutMs: number, isTty: boolean): Promise<void> {
  const end = Date.now() + timeoutMs;
  const bar = isTty ? new SingleBar({ format: 'applying  {bar} {value}/{total} nodes on rev {rev}', hideCursor: true }, Presets.shades_classic) : null;
  let started = false;
  for (;;) {
    const a = await call(base, 'GET', '/api/rebalance');
    const p = a.body as { rev: number; applied: number; total: number; isDone: boolean };
    if (bar !== null) {
      if (!started) bar.start(p.total, p.applied, { rev: p.rev });
      else bar.update(p.applied, { rev: p.rev });
      started = true;
    }
    if (p.isDone) {
      bar?.stop();
      process.stdout.write(`rev ${p.rev} applied by ${p.applied}/${p.total} nodes\n`);
      return;
    }
    if (Date.now() > end) {
      bar?.stop();
      throw new Error(`rev ${p.rev} applied by only ${p.applied}/${p.total} nodes after ${timeoutMs} ms`);
    }
    await new Promise<void>((resolve) => setTimeout(resolve, 100));
  }
}

function printStatus(body: Record<string, unknown>): void {
  const map = body.map as Record<string, number> | null;
  process.stdout.write(map === null ? 'map: none yet\n' : `map: epoch ${map.epoch}, rev ${map.rev}, 2^${map.bits} buckets, ${2 ** (map.unitBits ?? 0)} units, ${map.runs} runs\n`);
  process.stdout.write(`leader: ${body.isLeader ? 'this manager' : 'another manager'}\n`);
  const nodes = body.nodes as Array<Record<string, unknown>>;
  process.stdout.write(`${'id'.padEnd(38)}${'state'.padEnd(9)}${'live'.padEnd(6)}${'share'.padEnd(8)}address\n`);
  for (const n of nodes) {
    process.stdout.write(`${String(n.id).padEnd(38)}${String(n.state).padEnd(9)}${(n.isLive ? 'yes' : 'no').padEnd(6)}${(((n.activeShare as number) * 100).toFixed(1) + '%').padEnd(8)}${String(n.address)}\n`);
  }
}

/** `pandakv cluster …` */
export async function clusterMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    manager: { type: 'string' },
    stop: { type: 'boolean' },
    redundancy: { type: 'string' },
    'timeout-ms': { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const [command, arg, ...rest] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(CLUSTER_USAGE);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const base = String(values.manager ?? process.env.PANDAKV_MANAGER ?? 'http://127.0.0.1:7070');
  if (!/^https?:\/\/\S+$/.test(base)) throw new UsageError(`--manager must be http://host:port, got "${base}"`);
  const timeoutMs = numberArg(values, 'timeout-ms', (n) => n > 0) ?? 30_000;
  const needNode = (): string => {
    if (arg === undefined) throw new UsageError(`${command} needs a NODE (id, id prefix or address)`);
    return arg;
  };
  let answer: Answer;
  switch (command) {
    case 'status':
      answer = await call(base, 'GET', '/api/status');
      if (answer.status !== 200) fail(answer);
      if (values.json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
      else printStatus(answer.body);
      return 0;
    case 'add': answer = await call(base, 'POST', '/api/nodes/add', { node: needNode() }); break;
    case 'remove': answer = await call(base, 'POST', '/api/nodes/remove', { node: needNode() }); break;
    case 'failover': answer = await call(base, 'POST', '/api/nodes/failover', { node: needNode() }); break;
    case 'split': answer = await call(base, 'POST', '/api/split'); break;
    case 'rebalance': answer = await call(base, 'POST', values.stop ? '/api/rebalance/stop' : '/api/rebalance'); break;
    case 'set': {
      const r = numberArg(values, 'redundancy', (n) => Number.isInteger(n) && n >= 1 && n <= 8);
      if (r === undefined) throw new UsageError('set needs --redundancy R');
      answer = await call(base, 'POST', '/api/settings', { redundancy: r });
      break;
    }
    default:
      throw new UsageError(`unknown cluster command "${command}"`);
  }
  if (answer.status !== 200) fail(answer);
  if (values.json) process.stdout.write(`${JSON.stringify(answer.body, null, 2)}\n`);
  else {
    const b = answer.body as { epoch?: number; rev?: number; movedUnits?: number; warnings?: string[] };
    process.stdout.write(`${command}: map epoch ${b.epoch}, rev ${b.rev}, ${b.movedUnits ?? 0} unit moves\n`);
    for (const w of b.warnings ?? []) process.stdout.write(`warning: ${w}\n`);
  }
  if (!values.stop) await waitApplied(base, timeoutMs, process.stdout.isTTY === true);
  return 0;
}
