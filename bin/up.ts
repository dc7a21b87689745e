import { Presets, SingleBar } from 'cli-progress';
import { connect } from '../sdk/index.js';
import { spawnNode, type Spawned } from '../cluster/spawn.js';
import { parseCommandLine, numberArg, UsageError, untilSignal } from './cli-util.js';

const UP_USAGE = `Usage: pandakv up [switches]

Starts a local data node, runs a short demo workload against it with the SDK and
stays up until Ctrl-C.

  --keys N         keys the demo writes and reads back (default 20000)
  --memory-size MB memory budget of the node (default 100)
  --exit           stop after the demo instead of waiting for Ctrl-C
  --help           print this text
`;

/** `pandakv up`: what `npm start` runs. */
export async function upMain(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    keys: { type: 'string' },
    'memory-size': { type: 'string' },
    exit: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    process.stdout.write(UP_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  const keys = numberArg(values, 'keys', (n) => Number.isInteger(n) && n > 0) ?? 20_000;
  const memory = numberArg(values, 'memory-size', (n) => n > 0) ?? 100;

  const nodes: Spawned[] = [];
  try {
    nodes.push(await spawnNode(['--memory-size', String(memory)]));
    const address = nodes[0]!.address;
    process.stdout.write(`node      ${address}  (pid ${nodes[0]!.pid})\n`);
    await demo([address], keys);
    if (values.exit) return 0;
    process.stdout.write('\nCluster is up. Press Ctrl-C to stop.\n');
    await untilSignal();
    return 0;
  } finally {
    for (const n of nodes.reverse()) await n.stop();
  }
}

async function demo(addresses: string[], keys: number): Promise<void> {
  const db = await connect({ nodes: addresses });
  try {
    const bar = new SingleBar({ format: 'demo      {bar} {value}/{total} ops  {rate} ops/s', hideCursor: true, noTTYOutput: false, stream: process.stdout }, Presets.shades_classic);
    const total = keys * 2;
    bar.start(total, 0, { rate: 0 });
    const started = Date.now();
    let done = 0;
    const report = (): void => bar.update(done, { rate: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)) });
    const batch = 512;
    for (let i = 0; i < keys; i += batch) {
      const n = Math.min(batch, keys - i);
      await Promise.all(Array.from({ length: n }, (_, j) => db.set(`demo:${String(i + j).padStart(8, '0')}`, `value-${i + j}`)));
      done += n;
      report();
    }
    let matched = 0;
    for (let i = 0; i < keys; i += batch) {
      const n = Math.min(batch, keys - i);
      const ks = Array.from({ length: n }, (_, j) => `demo:${String(i + j).padStart(8, '0')}`);
      const values = await db.getMany(ks);
      values.forEach((v, j) => { if (v !== null && Buffer.from(v).toString() === `value-${i + j}`) matched++; });
      done += n;
      report();
    }
    bar.stop();
    const seconds = (Date.now() - started) / 1000;
    process.stdout.write(`wrote ${keys} keys and read back ${matched}/${keys} intact in ${seconds.toFixed(2)} s (${Math.round(total / seconds)} ops/s)\n`);
    const counter = await db.incr('demo:counter', 1n, { initial: 1n });
    process.stdout.write(`counter   demo:counter = ${counter}\n`);
    const route = db.route('demo:00000042');
    process.stdout.write(`route     demo:00000042 → bucket ${route.bucket} of 2^${db.map!.bits}, node ${route.chain[0]}\n`);
    process.stdout.write('scan      first 3 keys from "demo:":');
    for await (const e of db.scan({ start: 'demo:', limit: 3 })) process.stdout.write(` ${e.key}=${Buffer.from(e.value).toString()}`);
    process.stdout.write('\n');
    const stats = await db.stats();
    for (const [addr, s] of Object.entries(stats)) {
      process.stdout.write(`stats     ${addr}: ${s.items} items, ${s.bytes} bytes accounted, ${Math.round(Number(s.rssBytes) / 1048576)} MiB RSS\n`);
    }
  } finally {
    await db.close();
  }
}
