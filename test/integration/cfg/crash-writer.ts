/**
 * Child process of the file store crash test: `crash-writer PATH PAD_BYTES` opens the
 * store at PATH, reads the counter it left last time, then writes counter+1, counter+2,
 * ... in a tight loop, each value padded to make the write take a while, printing each
 * number on stdout once its write has resolved. The parent kills it with SIGKILL.
 */
import { FileCfg } from '../../../cluster/manager/cfg/file-cfg.js';

async function main(): Promise<void> {
  const path = process.argv[2];
  const padBytes = Number(process.argv[3]);
  if (path === undefined || !Number.isSafeInteger(padBytes)) throw new Error('usage: crash-writer PATH PAD_BYTES');
  const cfg = await FileCfg.open(path, { historyLength: 4 });
  const current = await cfg.get('counter');
  let n = current === null ? 0 : (JSON.parse(Buffer.from(current.value).toString('utf8')) as { n: number }).n;
  process.stdout.write(`start ${n}\n`);
  const pad = 'x'.repeat(padBytes);
  for (;;) {
    n++;
    await cfg.put('counter', Buffer.from(JSON.stringify({ n, pad }), 'utf8'));
    process.stdout.write(`${n}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`crash-writer: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
