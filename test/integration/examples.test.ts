import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { withDeadline } from '../helpers/deadline.js';

const run = promisify(execFile);
const test = suite('integration - examples run as smoke tests');
const example = (name: string): string => fileURLToPath(new URL(`../../examples/${name}.js`, import.meta.url));

/**
 * `pandakv up` as `npm start` runs it (secure, with dev credentials), until it prints the
 * examples' command lines; those lines are what `body` runs. Stopped with SIGTERM after.
 */
async function withUp<T>(body: (exampleLines: string[][], allLines: string[]) => Promise<T>): Promise<T> {
  const cli = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
  const up = spawn(process.execPath, [cli, 'up', '--nodes', '1', '--keys', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(up, 'exit');
  const lines: string[] = [];
  try {
    const commands = await withDeadline(new Promise<string[][]>((resolve, reject) => {
      const found: string[][] = [];
      createInterface({ input: up.stdout! }).on('line', (line) => {
        lines.push(line);
        const m = /^(?:examples:)?\s+node (dist\/examples\/\S+\.js) (.*)$/.exec(line);
        if (m !== null) found.push([m[1]!, ...m[2]!.split(' ')]);
        if (line.startsWith('Cluster is up')) resolve(found);
      });
      up.once('exit', (code) => reject(new Error(`pandakv up exited ${code}:\n${lines.join('\n')}`)));
    }), 90_000, 'pandakv up ready');
    return await body(commands, lines);
  } finally {
    if (up.exitCode === null && up.signalCode === null) up.kill('SIGTERM');
    await withDeadline(exited, 30_000, 'up exits').catch(() => up.kill('SIGKILL'));
  }
}

const distRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Send the payload of a printed `printf '…' | nc -q1 HOST PORT` line over TCP; the answer once it ends with END. */
async function ncLine(line: string): Promise<string> {
  const m = /printf '(.*)' \| nc -q1 (\S+) (\d+)$/.exec(line);
  assert.ok(m !== null, line);
  const sock = netConnect(Number(m[3]), m[2]!);
  let got = '';
  try {
    await withDeadline(once(sock, 'connect'), 20_000, 'memcached port');
    const answered = new Promise<string>((resolve, reject) => {
      sock.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (/(^|\n)END\r\n$|ERROR/.test(got)) resolve(got);
      });
      sock.once('close', () => reject(new Error(`closed after ${JSON.stringify(got)}`)));
    });
    sock.write(m[1]!.replaceAll('\\r\\n', '\r\n'));
    return await withDeadline(answered, 60_000, 'memcached answer');
  } finally {
    sock.destroy();
  }
}

test('the examples run against `npm start` with the map URL and credentials file it prints', () => withUp(async (commands, lines) => {
  // The memcached lines it prints work as printed: the text login, and libmemcached's
  // memccat logging in with SASL PLAIN as the dev memcached principal.
  const nc = lines.find((l) => l.includes('| nc -q1 '));
  assert.ok(nc !== undefined, lines.join('\n'));
  assert.is(await ncLine(nc), 'STORED\r\nVALUE demo:00000042 0 8\r\nvalue-42\r\nEND\r\n');
  const mc = lines.find((l) => l.trim().startsWith('memccat '));
  assert.ok(mc !== undefined, lines.join('\n'));
  const [tool, ...toolArgs] = mc.split('#')[0]!.trim().split(/\s+/);
  assert.ok(toolArgs.includes('--binary') && toolArgs.some((a) => a.startsWith('--password=')), mc);
  const cat = await run(tool!, toolArgs, { timeout: 60_000 });
  assert.is(cat.stdout.trim(), 'value-42');

  assert.is(commands.length, 2, 'npm start prints a command line for each example');
  for (const [script, ...args] of commands) {
    assert.match(args[0]!, /^ws:\/\/127\.0\.0\.1:\d+\/map$/);
    assert.match(args[1]!, /dev\.credentials\.json$/);
    const { stdout } = await run(process.execPath, [script!, ...args], { timeout: 30_000, cwd: distRoot });
    if (script!.endsWith('get-set.js')) {
      assert.match(stdout, /greeting = hello, world/);
      assert.match(stdout, /stale cas refused/);
      assert.match(stdout, /visits = 1/);
      assert.match(stdout, /deleted: true/);
    } else {
      const keys = stdout.split('\n').filter((l) => l.startsWith('city:')).map((l) => l.split(' ')[0]);
      assert.equal(keys, ['city:bern', 'city:kyiv', 'city:lima', 'city:nice', 'city:oslo', 'city:pune']);
      assert.match(stdout, /first page ended at city:lima/);
    }
  }
}));

test('an example without its map URL prints its usage and exits 2', async () => {
  const err = await run(process.execPath, [example('get-set')]).catch((e: { code: number; stderr: string }) => e);
  assert.is((err as { code: number }).code, 2);
  assert.match((err as { stderr: string }).stderr, /usage: get-set MAP_URL \[CREDENTIALS_FILE\]/);
});

test('pandakv up starts a node, runs its demo and exits cleanly with --exit', async () => {
  const cli = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
  // A failure shows what the command printed, not only that it failed.
  const { stdout } = await run(process.execPath, [cli, 'up', '--keys', '2000', '--exit'], { timeout: 60_000 }).catch((err: { message: string; stdout?: string; stderr?: string; killed?: boolean }) => {
    throw new Error(`${err.message}${err.killed === true ? ' (killed at the 60 s deadline)' : ''}\nstdout:\n${err.stdout ?? ''}\nstderr:\n${err.stderr ?? ''}`);
  });
  assert.match(stdout, /read back 2000\/2000 intact/);
  assert.match(stdout, /stats/);
  assert.match(stdout, /^dashboard +http:\/\/\S+\/ui +\(log in as dev-web \/ [0-9a-f]{18}\)$/m);
});

test('pandakv up stopped by SIGTERM while starting leaves no process behind', async () => {
  const cli = fileURLToPath(new URL('../../bin/pandakv.js', import.meta.url));
  const up = spawn(process.execPath, [cli, 'up', '--keys', '100'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = once(up, 'exit');
  const pids: number[] = [];
  try {
    // Stop it as soon as the manager is up: the nodes are still starting.
    await withDeadline(new Promise<void>((resolve) => {
      createInterface({ input: up.stdout! }).on('line', (line) => {
        const pid = /\(.*pid (\d+)\)/.exec(line);
        if (pid !== null) pids.push(Number(pid[1]));
        if (line.startsWith('manager')) resolve();
      });
    }), 30_000, 'manager started');
    up.kill('SIGTERM');
    const [code] = await withDeadline(exited, 30_000, 'up exits');
    // A stop asked for by a signal is an orderly stop (docs/operations.md, "Signals and exit codes").
    assert.is(code, 0, 'a start-up cut short by SIGTERM exits 0');
  } finally {
    if (up.exitCode === null && up.signalCode === null) up.kill('SIGKILL');
  }
  assert.ok(pids.length >= 2, `saw the dht and the manager start (${pids.join(', ')})`);
  for (const pid of pids) {
    assert.throws(() => process.kill(pid, 0), (e: NodeJS.ErrnoException) => e.code === 'ESRCH', `process ${pid} is gone`);
  }
});

test.run();
