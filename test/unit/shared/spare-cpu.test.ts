import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { withDeadline } from '../../helpers/deadline.js';
import { SpareCpuGate, parseCpuPressure, parseProcStat, readCpuPressure, readProcStat, type CpuTimes } from '../../../shared/spare-cpu.js';

const test = suite('shared - spare CPU gate');

test('parseProcStat: idle and iowait are idle; guest time is not counted twice', () => {
  const text = 'cpu  100 5 50 800 20 3 2 10 7 0\ncpu0 50 2 25 400 10 1 1 5 3 0\nintr 1 2 3\n';
  assert.equal(parseProcStat(text), { idle: 820, total: 990 });
  // Old kernels stop after iowait.
  assert.equal(parseProcStat('cpu 1 2 3 4 5'), { idle: 9, total: 15 });
  assert.equal(parseProcStat('cpu 1 2 3 4'), { idle: 4, total: 10 });
});

test('parseProcStat: anything but a well-formed aggregate line is null', () => {
  for (const bad of ['', '\n', 'cpu0 1 2 3 4 5', 'intr 1 2 3 4', 'cpu 1 2 3', 'cpu 1 2 x 4 5', 'cpu 1 2 -3 4 5', 'cpu 1 2 3 1e400 5', `cpu ${'9'.repeat(30)} 1 1 1`, 'cpu 1.5 2 3 4 5']) {
    assert.is(parseProcStat(bad), null, JSON.stringify(bad));
  }
});

test('parseCpuPressure: the total of the some line; anything else is null', () => {
  const text = 'some avg10=1.50 avg60=0.80 avg300=0.20 total=123456789\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n';
  assert.is(parseCpuPressure(text), 123456789);
  assert.is(parseCpuPressure('some total=7'), 7);
  for (const bad of ['', 'full avg10=0.00 total=5', 'some avg10=1.0', 'some total=-5', 'some total=1.5', 'some total=', `some total=${'9'.repeat(25)}`, 'some total=99999999999999999999']) {
    assert.is(parseCpuPressure(bad), null, JSON.stringify(bad));
  }
});

test('readCpuPressure reads this machine, or null where PSI is off', () => {
  const v = readCpuPressure();
  assert.ok(v === null || (Number.isSafeInteger(v) && v >= 0), String(v));
});

test('readProcStat reads this machine on Linux', () => {
  const t = readProcStat();
  if (process.platform !== 'linux') {
    assert.is(t, null);
    return;
  }
  assert.ok(t !== null && t.total > 0 && t.idle >= 0 && t.idle <= t.total);
});

/** A gate over scripted CPU times, pressure figures and clock: each sample takes the next entry. */
function scripted(minSpareCores: number, cores: number, times: Array<CpuTimes | null>, probeEvery = 10): { gate: SpareCpuGate; clock: { ms: number; stallUs: number | null }; reads: () => number } {
  // By default the machine keeps no pressure figures.
  const clock: { ms: number; stallUs: number | null } = { ms: 0, stallUs: null };
  let i = 0;
  const gate = new SpareCpuGate({
    minSpareCores, cores, probeEvery, read: () => times[Math.min(i++, times.length - 1)]!, now: () => clock.ms,
    readPressure: () => clock.stallUs,
  });
  return { gate, clock, reads: () => i };
}

/** Cumulative CPU times of 2 cores (20 ticks per 100 ms sample) with the given idle share per sample. */
function idleShares(...shares: number[]): CpuTimes[] {
  const out: CpuTimes[] = [{ idle: 0, total: 0 }];
  for (const share of shares) {
    const prev = out[out.length - 1]!;
    out.push({ idle: prev.idle + Math.round(20 * share), total: prev.total + 20 });
  }
  return out;
}

function step(gate: SpareCpuGate, clock: { ms: number }): boolean {
  clock.ms += 100;
  gate.sample();
  return gate.isOpen;
}

test('closed, every sample is judged: open once the machine has the idle cores asked for', () => {
  const { gate, clock } = scripted(0.5, 2, idleShares(0.1, 0.2, 0.6));
  assert.is(gate.isOpen, false, 'closed before it knows');
  gate.sample();
  assert.is(gate.isOpen, false, 'one reading is no rate');
  assert.ok(Number.isNaN(gate.spareCores));
  assert.is(step(gate, clock), false);
  assert.ok(Math.abs(gate.spareCores - 0.2) < 1e-9, String(gate.spareCores));
  assert.is(step(gate, clock), false);
  assert.is(step(gate, clock), true, '0.6 of 2 cores idle: 1.2 spare');
  assert.ok(Math.abs(gate.spareCores - 1.2) < 1e-9);
});

test("open, the idle time is the poller's own and is judged only on a probe, for which the gate closes", () => {
  // Open after the 0.6 sample; the poller then uses the idle time (0.05); every 3rd sample probes.
  const { gate, clock } = scripted(0.5, 2, idleShares(0.6, 0.05, 0.05, 0.05, 0.6, 0.05, 0.05, 0.1), 3);
  gate.sample();
  assert.is(step(gate, clock), true);
  assert.is(step(gate, clock), true, 'a busy-looking sample while polling does not close it');
  assert.is(step(gate, clock), false, 'the probe: closed for one sample');
  assert.is(gate.isProbe, true);
  assert.is(step(gate, clock), false, 'the probe found 0.1 spare cores: stays closed');
  assert.is(gate.isProbe, false);
  assert.is(step(gate, clock), true, 'a clean sample with 1.2 spare: open again');
  assert.is(step(gate, clock), true);
  assert.is(step(gate, clock), false, 'the next probe');
  assert.is(step(gate, clock), false, '0.2 spare on the probe');
});

test('tasks waiting for a CPU close the gate at once, open or closed; no pressure figures skip the check', () => {
  const { gate, clock } = scripted(0.5, 2, idleShares(0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5));
  clock.stallUs = 0;
  gate.sample();
  clock.stallUs = 10_000; // waited 10 of 100 ms
  assert.is(step(gate, clock), true, '1 core idle, little waiting');
  assert.ok(Math.abs(gate.cpuPressure - 0.1) < 1e-9, String(gate.cpuPressure));
  clock.stallUs = 50_000; // 40 of 100 ms
  assert.is(step(gate, clock), false, 'open, and woken tasks queue: closed');
  clock.stallUs = 90_000;
  assert.is(step(gate, clock), false, 'closed: a core idle on average, but tasks still queue');
  assert.ok(Math.abs(gate.spareCores - 1) < 1e-9);
  clock.stallUs = 95_000;
  assert.is(step(gate, clock), true, 'the waiting stopped');
  clock.stallUs = null;
  assert.is(step(gate, clock), true);
  assert.ok(Number.isNaN(gate.cpuPressure), 'no figures');
  clock.stallUs = 500_000;
  assert.is(step(gate, clock), true, 'one reading after a gap is no rate');
  assert.ok(Number.isNaN(gate.cpuPressure));
});

test('no tick between samples keeps the decision; times going backwards count as no idle', () => {
  const { gate, clock } = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 20, total: 20 }, { idle: 20, total: 20 }, { idle: 30, total: 40 }, { idle: 10, total: 60 }]);
  gate.sample();
  assert.is(step(gate, clock), true);
  assert.is(gate.spareCores, 2);
  assert.is(step(gate, clock), true, 'no tick: unchanged');
  const closing = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 2, total: 20 }, { idle: 0, total: 40 }]);
  closing.gate.sample();
  assert.is(step(closing.gate, closing.clock), false);
  assert.is(step(closing.gate, closing.clock), false);
  assert.is(closing.gate.spareCores, 0);
});

test('where CPU times cannot be read the gate stays closed; 0 spare cores keeps it open without reading', () => {
  const unreadable = scripted(0.5, 2, [null]);
  unreadable.gate.sample();
  assert.is(step(unreadable.gate, unreadable.clock), false);
  assert.ok(Number.isNaN(unreadable.gate.spareCores));
  const always = scripted(0, 2, [{ idle: 0, total: 0 }]);
  assert.is(always.gate.isOpen, true);
  always.gate.start();
  assert.is(always.reads(), 0, 'never sampled');
  always.gate.stop();
  assert.is(always.gate.isOpen, true);
});

test('start samples at once and on a timer that does not hold the process; stop closes', async () => {
  let reads = 0;
  let onRead: (() => void) | null = null;
  const gate = new SpareCpuGate({
    minSpareCores: 0.5, cores: 2, sampleMs: 5,
    read: () => {
      reads++;
      queueMicrotask(() => onRead?.());
      return { idle: 20 * reads, total: 20 * reads };
    },
  });
  gate.start();
  gate.start();
  assert.is(reads, 1);
  // The timer's second reading gives a rate: all idle.
  await withDeadline(new Promise<void>((resolve) => { onRead = () => { if (gate.isOpen) resolve(); }; }), 5000, 'gate opened by the timer');
  assert.is(gate.spareCores, 2);
  gate.stop();
  assert.is(gate.isOpen, false);
  const after = reads;
  // Three ticks of a timer with the gate's period: the gate's own timer, had it survived, would have fired between them.
  await withDeadline(new Promise<void>((resolve) => {
    let ticks = 0;
    const t = setInterval(() => { if (++ticks === 3) { clearInterval(t); resolve(); } }, 5);
  }), 5000, 'three ticks');
  assert.is(reads, after, 'no sampling after stop');
});

test('bad options are refused', () => {
  for (const minSpareCores of [-0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores }), (e: unknown) => e instanceof RangeError);
  }
  for (const maxPressure of [0, -0.1, 1.5, Number.NaN]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores: 1, maxPressure }), (e: unknown) => e instanceof RangeError);
  }
  for (const probeEvery of [0, 1, 2.5, Number.NaN]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores: 1, probeEvery }), (e: unknown) => e instanceof RangeError);
  }
  for (const sampleMs of [0, -1, Number.NaN]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores: 1, sampleMs }), (e: unknown) => e instanceof RangeError);
  }
});

test.run();
