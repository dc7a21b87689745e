import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { ConnGuard, sweepIntervalMs, type ConnGuardOptions, type GuardCloseReason, type GuardEntry, type GuardedConnection } from '../../../shared/conn-guard.js';
import { CONN_LIMITS_DEFAULTS, checkConnLimits } from '../../../shared/conn-limits.js';

const test = suite('shared - conn guard');

/** A connection that records how it was closed; `partial` is what it reports as half-read. */
class FakeConn implements GuardedConnection {
  closedFor: GuardCloseReason | null = null;
  partial = 0;
  pings = 0;
  constructor(readonly name: string) {}
  closeFor(reason: GuardCloseReason): void {
    if (this.closedFor !== null) throw new Error(`${this.name} closed twice`);
    this.closedFor = reason;
  }
  partialBytes(): number {
    return this.partial;
  }
  keepAlive(): void {
    this.pings++;
  }
}

function guardWith(o: Partial<ConnGuardOptions>): { guard: ConnGuard<FakeConn>; clock: { now: number } } {
  const clock = { now: 1_000_000 };
  const guard = new ConnGuard<FakeConn>({
    ...CONN_LIMITS_DEFAULTS, maxConnections: 100, isAuthRequired: true, hasTimer: false, now: () => clock.now, ...o,
  });
  return { guard, clock };
}

function admitted(guard: ConnGuard<FakeConn>, name: string, address = '10.0.0.1'): GuardEntry<FakeConn> {
  const e = guard.admit(new FakeConn(name), address);
  if (typeof e === 'string') throw new Error(`${name} refused: ${e}`);
  return e;
}

test('at the global cap a new connection evicts the oldest unauthenticated one, never an authenticated one', () => {
  const { guard } = guardWith({ maxConnections: 3 });
  const a = admitted(guard, 'a', '10.0.0.1');
  const b = admitted(guard, 'b', '10.0.0.2');
  const c = admitted(guard, 'c', '10.0.0.3');
  guard.authenticated(a);
  const d = admitted(guard, 'd', '10.0.0.4');
  assert.is(a.conn.closedFor, null, 'authenticated a stays');
  assert.is(b.conn.closedFor, 'evicted', 'b was the oldest unauthenticated');
  assert.is(c.conn.closedFor, null);
  assert.is(d.conn.closedFor, null);
  assert.is(guard.size, 3);
  assert.is(guard.counters.evicted, 1);
});

test('with every slot authenticated the new connection is refused', () => {
  const { guard } = guardWith({ maxConnections: 2 });
  guard.authenticated(admitted(guard, 'a', '10.0.0.1'));
  guard.authenticated(admitted(guard, 'b', '10.0.0.2'));
  assert.is(guard.admit(new FakeConn('c'), '10.0.0.3'), 'connection-limit');
  assert.is(guard.counters.refused, 1);
  assert.is(guard.size, 2);
});

test('the per-address cap evicts that address\'s oldest unauthenticated connection, not another address\'s', () => {
  const { guard } = guardWith({ maxConnectionsPerAddress: 2 });
  const other = admitted(guard, 'other', '10.0.0.9');
  const a1 = admitted(guard, 'a1', '10.0.0.1');
  const a2 = admitted(guard, 'a2', '10.0.0.1');
  const a3 = admitted(guard, 'a3', '10.0.0.1');
  assert.is(other.conn.closedFor, null);
  assert.is(a1.conn.closedFor, 'evicted');
  assert.is(a2.conn.closedFor, null);
  assert.is(a3.conn.closedFor, null);
  guard.authenticated(a2);
  guard.authenticated(a3);
  assert.is(guard.admit(new FakeConn('a4'), '10.0.0.1'), 'address-limit', 'the address is full of authenticated connections');
  assert.ok(typeof guard.admit(new FakeConn('b1'), '10.0.0.2') !== 'string', 'another address still gets in');
});

test('an insecure listener refuses at its caps instead of evicting', () => {
  const { guard } = guardWith({ isAuthRequired: false, maxConnections: 2, maxConnectionsPerAddress: 1 });
  const a = admitted(guard, 'a', '10.0.0.1');
  assert.is(guard.admit(new FakeConn('a2'), '10.0.0.1'), 'address-limit');
  admitted(guard, 'b', '10.0.0.2');
  assert.is(guard.admit(new FakeConn('c'), '10.0.0.3'), 'connection-limit');
  assert.is(a.conn.closedFor, null);
  assert.is(guard.counters.evicted, 0);
  assert.is(guard.counters.refused, 2);
});

test('a flood of thousands from one address keeps the listener at its caps and an authenticated client in', () => {
  const { guard } = guardWith({ maxConnections: 4096, maxConnectionsPerAddress: 1024 });
  const client = admitted(guard, 'client', '10.0.0.1');
  guard.authenticated(client);
  let refused = 0;
  for (let i = 0; i < 10_000; i++) if (typeof guard.admit(new FakeConn(`flood${i}`), '10.0.0.66') === 'string') refused++;
  assert.is(refused, 0, 'flood connections replace each other');
  assert.is(guard.size, 1 + 1024);
  assert.is(guard.counters.evicted, 10_000 - 1024);
  assert.is(client.conn.closedFor, null);
  const late = admitted(guard, 'late', '10.0.0.1');
  guard.authenticated(late);
  assert.is(late.conn.closedFor, null);
});

test('released connections free their slot, and release is idempotent', () => {
  const { guard } = guardWith({ maxConnections: 1, maxConnectionsPerAddress: 1 });
  const a = admitted(guard, 'a');
  guard.authenticated(a);
  guard.release(a);
  guard.release(a);
  assert.is(guard.size, 0);
  const b = admitted(guard, 'b');
  assert.is(b.conn.closedFor, null);
  assert.is(guard.counters.open, 1);
});

test('the pre-auth deadline closes only unauthenticated connections', () => {
  const { guard, clock } = guardWith({ preAuthTimeoutMs: 1000, idleTimeoutMs: 0 });
  const a = admitted(guard, 'a');
  const b = admitted(guard, 'b');
  guard.authenticated(b);
  clock.now += 999;
  guard.sweep();
  assert.is(a.conn.closedFor, null);
  clock.now += 1;
  guard.sweep();
  assert.is(a.conn.closedFor, 'pre-auth-timeout');
  assert.is(b.conn.closedFor, null);
  assert.is(guard.counters.preAuthTimeouts, 1);
  assert.is(guard.size, 1);
});

test('an insecure listener has no pre-auth deadline', () => {
  const { guard, clock } = guardWith({ isAuthRequired: false, preAuthTimeoutMs: 1000, idleTimeoutMs: 0 });
  const a = admitted(guard, 'a');
  clock.now += 60_000;
  guard.sweep();
  assert.is(a.conn.closedFor, null);
});

test('the idle timeout counts from the last input; activity pushes it back', () => {
  const { guard, clock } = guardWith({ idleTimeoutMs: 1000 });
  const a = admitted(guard, 'a');
  guard.authenticated(a);
  clock.now += 800;
  a.isActive = true;
  guard.sweep();
  clock.now += 800;
  guard.sweep();
  assert.is(a.conn.closedFor, null, 'active 800 ms ago');
  clock.now += 200;
  guard.sweep();
  assert.is(a.conn.closedFor, 'idle-timeout');
  assert.is(guard.counters.idleTimeouts, 1);
});

test('a quiet connection is asked for a sign of life once, at half the idle timeout', () => {
  const { guard, clock } = guardWith({ idleTimeoutMs: 1000 });
  const a = admitted(guard, 'a');
  guard.authenticated(a);
  clock.now += 400;
  guard.sweep();
  assert.is(a.conn.pings, 0);
  clock.now += 100;
  guard.sweep();
  guard.sweep();
  assert.is(a.conn.pings, 1);
  a.isActive = true;
  clock.now += 10;
  guard.sweep();
  clock.now += 500;
  guard.sweep();
  assert.is(a.conn.pings, 2, 'a new quiet spell, a new ping');
  assert.is(a.conn.closedFor, null);
});

test('the read deadline closes a connection whose message never completes (slowloris)', () => {
  const { guard, clock } = guardWith({ readTimeoutMs: 1000, idleTimeoutMs: 0 });
  const a = admitted(guard, 'a');
  guard.authenticated(a);
  a.conn.partial = 1;
  for (let i = 0; i < 9; i++) {
    clock.now += 100;
    a.isActive = true;
    a.conn.partial++;
    guard.sweep();
  }
  assert.is(a.conn.closedFor, null, 'still within the deadline');
  clock.now += 1000;
  a.isActive = true;
  guard.sweep();
  assert.is(a.conn.closedFor, 'read-timeout');
  assert.is(guard.counters.readTimeouts, 1);
});

test('completed messages restart the read deadline; a busy connection has none', () => {
  const { guard, clock } = guardWith({ readTimeoutMs: 1000, idleTimeoutMs: 0 });
  const a = admitted(guard, 'a');
  guard.authenticated(a);
  a.conn.partial = 10;
  for (let i = 0; i < 30; i++) {
    clock.now += 400;
    a.messages++;
    guard.sweep();
  }
  assert.is(a.conn.closedFor, null, 'a steady stream of messages, always one half-read');
  a.busy = 1;
  clock.now += 5000;
  guard.sweep();
  assert.is(a.conn.closedFor, null, 'busy');
  a.busy = 0;
  guard.sweep();
  clock.now += 1000;
  guard.sweep();
  assert.is(a.conn.closedFor, 'read-timeout');
});

test('sweeps run a few times per shortest timeout, at most a second apart, and not at all with none', () => {
  assert.is(sweepIntervalMs({ ...CONN_LIMITS_DEFAULTS, isAuthRequired: true }), 1000);
  assert.is(sweepIntervalMs({ preAuthTimeoutMs: 200, idleTimeoutMs: 0, readTimeoutMs: 0, maxConnectionsPerAddress: 1, isAuthRequired: true }), 50);
  assert.is(sweepIntervalMs({ preAuthTimeoutMs: 200, idleTimeoutMs: 0, readTimeoutMs: 0, maxConnectionsPerAddress: 1, isAuthRequired: false }), null);
  assert.is(sweepIntervalMs({ preAuthTimeoutMs: 0, idleTimeoutMs: 0, readTimeoutMs: 8, maxConnectionsPerAddress: 1, isAuthRequired: true }), 10);
});

test('limits that cannot work are refused with the option named', () => {
  const ok = { ...CONN_LIMITS_DEFAULTS, maxConnections: 10 };
  checkConnLimits(ok, 'x');
  for (const [name, value] of [['preAuthTimeoutMs', -1], ['idleTimeoutMs', 1.5], ['readTimeoutMs', Number.NaN], ['maxConnections', 0], ['maxConnectionsPerAddress', -3]] as const) {
    assert.throws(() => checkConnLimits({ ...ok, [name]: value }, 'x'), (err: Error) => err instanceof RangeError && err.message.includes(name), name);
  }
});

test.run();
