import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { EventEmitter } from 'node:events';
import { Shutdown, StoppedError, type ShutdownHost } from '../../../bin/shutdown.js';
import { withDeadline } from '../../helpers/deadline.js';

const test = suite('bin - shutdown on signals');

/** A process stand-in: signals are emitted by the test, exits and lines recorded. */
class FakeProcess implements ShutdownHost {
  private readonly emitter = new EventEmitter();
  readonly lines: string[] = [];
  readonly exits: number[] = [];
  private onExit: (() => void) | null = null;
  on(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): void {
    this.emitter.on(signal, listener);
  }
  off(signal: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): void {
    this.emitter.off(signal, listener);
  }
  exit(code: number): void {
    this.exits.push(code);
    this.onExit?.();
  }
  write(line: string): void {
    this.lines.push(line);
  }
  send(signal: NodeJS.Signals): void {
    this.emitter.emit(signal, signal);
  }
  listeners(signal: NodeJS.Signals): number {
    return this.emitter.listenerCount(signal);
  }
  exited(): Promise<number> {
    if (this.exits.length > 0) return Promise.resolve(this.exits[0]!);
    return new Promise((resolve) => {
      this.onExit = () => resolve(this.exits[0]!);
    });
  }
}

test('a signal during a start-up step rejects it with StoppedError naming the step', async () => {
  const host = new FakeProcess();
  const s = new Shutdown('proxy', 60_000, host);
  try {
    const never = new Promise<void>(() => undefined);
    const raced = s.race(never, 'waiting for its first map');
    host.send('SIGTERM');
    const err = await raced.then(() => null, (e: unknown) => e);
    assert.ok(err instanceof StoppedError);
    assert.is((err as StoppedError).signal, 'SIGTERM');
    assert.is((err as StoppedError).message, 'stopped by SIGTERM while waiting for its first map');
    assert.ok(s.signal.aborted);
    const late = await s.race(Promise.resolve(1), 'later').then(() => null, (e: unknown) => e);
    assert.ok(late instanceof StoppedError, 'a step started after the signal is refused at once');
  } finally {
    s.dispose();
  }
});

test('a step that finishes first is not affected, and wait() resolves at the signal', async () => {
  const host = new FakeProcess();
  const s = new Shutdown('node', 60_000, host);
  try {
    assert.is(await s.race(Promise.resolve(42), 'starting'), 42);
    const failed = await s.race(Promise.reject(new Error('boom')), 'starting').then(() => null, (e: Error) => e.message);
    assert.is(failed, 'boom');
    const waited = s.wait();
    host.send('SIGINT');
    assert.is(await waited, 'SIGINT');
    assert.is(await s.wait(), 'SIGINT');
    assert.equal(host.exits, []);
  } finally {
    s.dispose();
  }
});

test('a process still running its stop after the stop timeout exits with 1 and says why', async () => {
  const host = new FakeProcess();
  const s = new Shutdown('manager', 20, host);
  try {
    host.send('SIGTERM');
    assert.is(await withDeadline(host.exited(), 5000, 'forced exit'), 1);
    assert.match(host.lines.join(''), /^pandakv manager: not stopped 20 ms after SIGTERM; exiting\n$/);
  } finally {
    s.dispose();
  }
});

test('a second signal exits at once with 1', () => {
  const host = new FakeProcess();
  const s = new Shutdown('dht', 60_000, host);
  try {
    host.send('SIGINT');
    assert.equal(host.exits, []);
    host.send('SIGINT');
    assert.equal(host.exits, [1]);
    assert.match(host.lines.join(''), /second signal \(SIGINT\)/);
  } finally {
    s.dispose();
  }
});

test('dispose removes the handlers', () => {
  const host = new FakeProcess();
  const s = new Shutdown('up', 60_000, host);
  assert.is(host.listeners('SIGTERM'), 1);
  assert.is(host.listeners('SIGINT'), 1);
  s.dispose();
  assert.is(host.listeners('SIGTERM'), 0);
  assert.is(host.listeners('SIGINT'), 0);
});

test.run();
