import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
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

/** A gate over scripted CPU times and a scripted clock: each sample takes the next entry. */
function scripted(minSpareCores: number, cores: number, times: Array<CpuTimes | null>): { gate: SpareCpuGate; clock: { ms: number; cpu: number; stallUs: number | null }; reads: () => number } {
  // By default this process used all the CPU time the clock moved, so no credit is capped,
  // and the machine keeps no pressure figures.
  const clock: { ms: number; cpu: number; stallUs: number | null } = { ms: 0, cpu: Number.NaN, stallUs: null };
  let i = 0;
  const gate = new SpareCpuGate({
    minSpareCores, cores, read: () => times[Math.min(i++, times.length - 1)]!, now: () => clock.ms,
    selfCpuMs: () => (Number.isNaN(clock.cpu) ? clock.ms : clock.cpu),
    readPressure: () => clock.stallUs,
  });
  return { gate, clock, reads: () => i };
}

test('open while the machine has the idle cores asked for, closed when it has not', () => {
  // 2 cores; each step 100 ms = 20 ticks in all.
  const { gate, clock } = scripted(0.5, 2, [
    { idle: 0, total: 0 },
    { idle: 12, total: 20 }, // 60 % idle of 2 cores: 1.2 spare
    { idle: 14, total: 40 }, // 10 %: 0.2
    { idle: 19, total: 60 }, // 25 %: exactly 0.5
  ]);
  assert.is(gate.isOpen, false, 'closed before it knows');
  gate.sample();
  assert.is(gate.isOpen, false, 'one sample is no rate');
  assert.ok(Number.isNaN(gate.spareCores));
  clock.ms = 100;
  gate.sample();
  assert.is(gate.isOpen, true);
  assert.ok(Math.abs(gate.spareCores - 1.2) < 1e-9, String(gate.spareCores));
  clock.ms = 200;
  gate.sample();
  assert.is(gate.isOpen, false);
  assert.ok(Math.abs(gate.spareCores - 0.2) < 1e-9);
  clock.ms = 300;
  gate.sample();
  assert.is(gate.isOpen, true, 'the threshold itself is enough');
});

test("the poller's own empty polling counts as idle, so polling does not close its own gate", () => {
  const { gate, clock } = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 2, total: 20 }, { idle: 4, total: 40 }]);
  gate.sample();
  clock.ms = 100;
  gate.credit(60); // polled in vain 60 of the 100 ms: 0.6 of a core that would be idle
  gate.sample();
  assert.ok(Math.abs(gate.spareCores - 0.8) < 1e-9, String(gate.spareCores));
  assert.is(gate.isOpen, true);
  clock.ms = 200;
  gate.sample(); // the credit was used up by the last sample
  assert.ok(Math.abs(gate.spareCores - 0.2) < 1e-9);
  assert.is(gate.isOpen, false);
  gate.credit(-5);
  gate.credit(Number.NaN);
});

test('the credit is capped by the CPU time the process used: a poller waiting for a core is not idle', () => {
  const { gate, clock } = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 0, total: 20 }]);
  clock.cpu = 0;
  gate.sample();
  clock.ms = 100;
  clock.cpu = 30; // 30 ms of CPU in 100 ms: it polled "for 90 ms" mostly waiting to run
  gate.credit(90);
  gate.sample();
  assert.ok(Math.abs(gate.spareCores - 0.3) < 1e-9, String(gate.spareCores));
  assert.is(gate.isOpen, false);
});

test('tasks waiting for a CPU close the gate even with idle time to spare; no pressure figures skip the check', () => {
  const { gate, clock } = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 20, total: 40 }, { idle: 40, total: 80 }, { idle: 60, total: 120 }, { idle: 80, total: 160 }]);
  clock.stallUs = 0;
  gate.sample();
  clock.ms = 100;
  clock.stallUs = 10_000; // waited 10 of 100 ms
  gate.sample();
  assert.ok(Math.abs(gate.cpuPressure - 0.1) < 1e-9, String(gate.cpuPressure));
  assert.is(gate.isOpen, true, '1 core idle, little waiting');
  clock.ms = 200;
  clock.stallUs = 50_000; // 40 of 100 ms
  gate.sample();
  assert.ok(Math.abs(gate.spareCores - 1) < 1e-9);
  assert.is(gate.isOpen, false, 'a core idle on average, but woken tasks queue');
  clock.ms = 300;
  clock.stallUs = null;
  gate.sample();
  assert.ok(Number.isNaN(gate.cpuPressure));
  assert.is(gate.isOpen, true, 'no figures: idle time decides');
  clock.ms = 400;
  clock.stallUs = 60_000;
  gate.sample();
  assert.ok(Number.isNaN(gate.cpuPressure), 'one reading after a gap is no rate');
  assert.is(gate.isOpen, true);
});

test('no tick between samples keeps the decision; times going backwards count as no idle', () => {
  const { gate, clock } = scripted(0.5, 2, [{ idle: 0, total: 0 }, { idle: 20, total: 20 }, { idle: 20, total: 20 }, { idle: 10, total: 40 }]);
  gate.sample();
  clock.ms = 100;
  gate.sample();
  assert.is(gate.isOpen, true);
  clock.ms = 101;
  gate.sample();
  assert.is(gate.isOpen, true);
  clock.ms = 200;
  gate.sample();
  assert.is(gate.spareCores, 0);
  assert.is(gate.isOpen, false);
});

test('where CPU times cannot be read the gate stays closed; 0 spare cores keeps it open without reading', () => {
  const unreadable = scripted(0.5, 2, [null]);
  unreadable.gate.sample();
  unreadable.clock.ms = 100;
  unreadable.gate.sample();
  assert.is(unreadable.gate.isOpen, false);
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
  const gate = new SpareCpuGate({ minSpareCores: 0.5, cores: 2, sampleMs: 5, read: () => ({ idle: 20 * ++reads, total: 20 * reads }) });
  gate.start();
  gate.start();
  assert.is(reads, 1);
  const deadline = Date.now() + 5000;
  while (!gate.isOpen) {
    if (Date.now() > deadline) throw new Error('never opened');
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.is(gate.spareCores, 2);
  gate.stop();
  assert.is(gate.isOpen, false);
  const after = reads;
  await new Promise((r) => setTimeout(r, 30));
  assert.is(reads, after, 'no sampling after stop');
});

test('bad options are refused', () => {
  for (const minSpareCores of [-0.1, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores }), (e: unknown) => e instanceof RangeError);
  }
  for (const maxPressure of [0, -0.1, 1.5, Number.NaN]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores: 1, maxPressure }), (e: unknown) => e instanceof RangeError);
  }
  for (const sampleMs of [0, -1, Number.NaN]) {
    assert.throws(() => new SpareCpuGate({ minSpareCores: 1, sampleMs }), (e: unknown) => e instanceof RangeError);
  }
});

test.run();
