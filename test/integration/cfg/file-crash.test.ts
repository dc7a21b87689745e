import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { watch } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileCfg } from '../../../cluster/manager/cfg/file-cfg.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('cluster - cfg file store crash safety');

const WRITER = fileURLToPath(new URL('./crash-writer.js', import.meta.url));
const ROUNDS = 12;

/**
 * When to kill: right after the writer reports its Nth write (it is then encoding the
 * next one), or, after N reports, at the next change of a temp file in the directory
 * (the writer is then writing, fsyncing or renaming it).
 */
type KillMode = 'on-report' | 'on-temp-file';

interface Round {
  /** Numbers the child reported as written, in order. */
  reported: number[];
  /** Whether the kill left a temp file behind (it hit a write in progress). */
  hasTemp: boolean;
}

async function runRound(path: string, padBytes: number, killAfter: number, mode: KillMode): Promise<Round> {
  const dir = dirname(path);
  const child = spawn(process.execPath, [WRITER, path, String(padBytes)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const watcher = watch(dir);
  const reported: number[] = [];
  let stderr = '';
  let buffered = '';
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  watcher.on('change', (_type, name) => {
    if (mode === 'on-temp-file' && reported.length >= killAfter && String(name).includes('.tmp-')) kill();
  });
  watcher.on('error', kill);
  child.stderr.setEncoding('utf8').on('data', (c: string) => { stderr += c; });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    for (const line of lines) if (!line.startsWith('start')) reported.push(Number(line));
    if (mode === 'on-report' && reported.length >= killAfter) kill();
  });
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  try {
    await withDeadline(closed, 20_000, 'crash writer round');
  } finally {
    watcher.close();
    kill();
  }
  assert.is(child.signalCode, 'SIGKILL', `the writer should have been killed; stderr: ${stderr}`);
  const hasTemp = (await readdir(dir)).some((n) => n.includes('.tmp-'));
  return { reported, hasTemp };
}

test('a writer killed with SIGKILL mid-stream always leaves a whole file holding a value it wrote', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pandakv-crash-'));
  const path = join(dir, 'cfg.json');
  let tornWrites = 0;
  try {
    let floor = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const mode: KillMode = round % 2 === 0 ? 'on-report' : 'on-temp-file';
      const padBytes = 1024 * (1 + Math.floor(Math.random() * 128));
      const killAfter = 1 + Math.floor(Math.random() * 20);
      const { reported, hasTemp } = await runRound(path, padBytes, killAfter, mode);
      if (hasTemp) tornWrites++;
      const what = `round ${round} (${mode}, ${padBytes} byte pad, kill after ${killAfter})`;
      assert.ok(reported.length >= killAfter, `${what}: reported ${reported.length} writes`);
      assert.is(reported[0], floor + 1, `${what}: resumed after ${floor}`);
      const last = reported[reported.length - 1]!;

      // The raw file is one complete JSON document...
      const raw = JSON.parse(await readFile(path, 'utf8')) as { format: string };
      assert.is(raw.format, 'pandakv-cfg');
      // ...and the store opens it and holds the last reported write or the one in flight.
      const cfg = await FileCfg.open(path);
      try {
        const entry = await cfg.get('counter');
        assert.ok(entry !== null, `${what}: the counter is there`);
        const value = JSON.parse(Buffer.from(entry.value).toString('utf8')) as { n: number; pad: string };
        assert.ok(value.n === last || value.n === last + 1, `${what}: file holds ${value.n}, last reported ${last}`);
        assert.ok(/^x*$/.test(value.pad) && value.pad.length > 0, `${what}: the value is whole`);
        floor = value.n;
      } finally {
        await cfg.close();
      }
      assert.equal((await readdir(dir)).filter((n) => n.includes('.tmp-')), [], `${what}: opening removed the temp file`);
    }
    // Kills that land on a temp file are the torn writes this test is about.
    assert.ok(tornWrites > 0, 'no kill interrupted a write in progress');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test.run();
