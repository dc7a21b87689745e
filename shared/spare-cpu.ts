import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Machine-wide CPU time since boot, in clock ticks: idle (idle + iowait) and all. */
export interface CpuTimes {
  idle: number;
  total: number;
}

/** Reads the machine's CPU times; null where they cannot be read. */
export type CpuTimesReader = () => CpuTimes | null;

/**
 * The aggregate `cpu` line of `/proc/stat` (Linux): user nice system idle iowait irq
 * softirq steal, then guest time, which user already counts. Null for anything else.
 */
export function parseProcStat(text: string): CpuTimes | null {
  const end = text.indexOf('\n');
  const line = end < 0 ? text : text.slice(0, end);
  const fields = line.trim().split(/\s+/);
  if (fields[0] !== 'cpu' || fields.length < 5) return null;
  let total = 0;
  const ticks: number[] = [];
  for (let i = 1; i < Math.min(fields.length, 9); i++) {
    const n = Number(fields[i]);
    if (!Number.isSafeInteger(n) || n < 0) return null;
    ticks.push(n);
    total += n;
  }
  return { idle: ticks[3]! + (ticks[4] ?? 0), total };
}

/** `/proc/stat` of this machine; null off Linux or when it cannot be read. */
export function readProcStat(): CpuTimes | null {
  try {
    return parseProcStat(readFileSync('/proc/stat', 'latin1'));
  } catch {
    return null;
  }
}

/**
 * The `some` line of `/proc/pressure/cpu` (Linux PSI): microseconds in which at least one
 * runnable task waited for a CPU, since boot. Null for anything else.
 */
export function parseCpuPressure(text: string): number | null {
  const m = /^some (?:\S+ )*total=(\d{1,20})\s*$/m.exec(text);
  if (m === null) return null;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) ? n : null;
}

/** `/proc/pressure/cpu` of this machine; null where PSI is missing or off. */
export function readCpuPressure(): number | null {
  try {
    return parseCpuPressure(readFileSync('/proc/pressure/cpu', 'latin1'));
  } catch {
    return null;
  }
}

export interface SpareCpuOptions {
  /** Cores that must be idle, on average over a sample, for the gate to be open; 0 keeps it open. */
  minSpareCores: number;
  /** How often the machine's CPU times are read, ms. @default 100 */
  sampleMs?: number;
  /**
   * While open, every this many samples one is a probe: the gate is closed for it, so the
   * idle time it reads is not the poller's own. @default 10
   */
  probeEvery?: number;
  /** Cores of the machine. @default os.availableParallelism() */
  cores?: number;
  /** @default readProcStat */
  read?: CpuTimesReader;
  /**
   * Share of the sample in which some task waited for a CPU (PSI) at or above which the
   * gate closes, whatever the idle time; 1 ignores it. @default 0.3
   */
  maxPressure?: number;
  /** Stall time since boot, µs; null when unknown (the check is then skipped). @default readCpuPressure */
  readPressure?: () => number | null;
  /** Milliseconds, monotonic. @default performance.now */
  now?: () => number;
}

/**
 * Says whether the machine has CPU to spare, for a poller that burns CPU only to cut
 * latency: open while at least `minSpareCores` cores were idle and tasks waited for a CPU
 * less than `maxPressure` of the time (Linux PSI, where the kernel keeps it: idle time
 * alone misses a core that is free on average while woken tasks queue behind a busy one).
 *
 * Idle time read while the poller polls is not the machine's: the poller uses it. So the
 * idle time is judged only on clean samples: every sample while the gate is closed (no
 * polling then), and, while it is open, one probe sample in `probeEvery` for which the
 * gate closes. Pressure is judged on every sample, and closes the gate at once. Where the
 * CPU times cannot be read (not Linux) the gate stays closed, unless `minSpareCores` is 0.
 * Machine-wide figures do not see a container's CPU quota.
 */
export class SpareCpuGate {
  private readonly minSpareCores: number;
  private readonly sampleMs: number;
  private readonly probeEvery: number;
  private readonly cores: number;
  private readonly read: CpuTimesReader;
  private readonly now: () => number;
  private readonly maxPressure: number;
  private readonly readPressure: () => number | null;
  private lastStallUs: number | null = null;
  private pressure = Number.NaN;
  private last: CpuTimes | null = null;
  private lastAt = 0;
  private spare = Number.NaN;
  private timer: NodeJS.Timeout | null = null;
  private isOpenNow: boolean;
  /** The sample under way is a probe (the gate closed for it). */
  private isProbing = false;
  /** Samples taken since the gate opened or last probed. */
  private openSamples = 0;

  constructor(o: SpareCpuOptions) {
    if (!Number.isFinite(o.minSpareCores) || o.minSpareCores < 0) throw new RangeError(`spare cores must be ≥ 0, got ${o.minSpareCores}`);
    this.minSpareCores = o.minSpareCores;
    this.sampleMs = o.sampleMs ?? 100;
    if (!Number.isFinite(this.sampleMs) || this.sampleMs <= 0) throw new RangeError(`sample period must be > 0 ms, got ${this.sampleMs}`);
    this.probeEvery = o.probeEvery ?? 10;
    if (!Number.isSafeInteger(this.probeEvery) || this.probeEvery < 2) throw new RangeError(`probe period must be a whole number ≥ 2 samples, got ${this.probeEvery}`);
    this.cores = o.cores ?? availableParallelism();
    this.read = o.read ?? readProcStat;
    this.now = o.now ?? (() => performance.now());
    this.maxPressure = o.maxPressure ?? 0.3;
    if (!(this.maxPressure > 0 && this.maxPressure <= 1)) throw new RangeError(`pressure limit must be in (0, 1], got ${this.maxPressure}`);
    this.readPressure = o.readPressure ?? readCpuPressure;
    this.isOpenNow = this.minSpareCores === 0;
  }

  /** True while polling may go on (always, with 0 spare cores asked for). */
  get isOpen(): boolean {
    return this.isOpenNow;
  }

  /** Idle cores over the last clean sample; NaN before two samples. */
  get spareCores(): number {
    return this.spare;
  }

  /** Share of the last sample in which some task waited for a CPU; NaN when unknown. */
  get cpuPressure(): number {
    return this.pressure;
  }

  /** Whether it reads the machine's idle time: unless 0 spare cores are asked for. */
  get measuresSpareCores(): boolean {
    return this.minSpareCores > 0;
  }

  /** Whether it reads CPU pressure: a limit below 1 and a kernel that keeps PSI (known once started). */
  get measuresPressure(): boolean {
    return this.maxPressure < 1 && this.lastStallUs !== null;
  }

  /** Start sampling every `sampleMs` (the timer does not keep the process alive). Idempotent. */
  start(): this {
    if (this.timer !== null || this.minSpareCores === 0) return this;
    this.sample();
    this.timer = setInterval(this.sample, this.sampleMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.isOpenNow = this.minSpareCores === 0;
  }

  /** Read the CPU times and decide (the timer's work; public for tests). */
  readonly sample = (): void => {
    const at = this.now();
    const times = this.read();
    const prev = this.last;
    this.last = times;
    const elapsedMs = at - this.lastAt;
    this.lastAt = at;
    const stallUs = this.maxPressure < 1 ? this.readPressure() : null;
    const prevStallUs = this.lastStallUs;
    this.lastStallUs = stallUs;
    this.pressure = stallUs !== null && prevStallUs !== null && elapsedMs > 0 ? Math.max(0, stallUs - prevStallUs) / 1000 / elapsedMs : Number.NaN;
    const isClean = !this.isOpenNow;
    this.isProbing = false;
    if (times === null) {
      this.spare = Number.NaN;
      this.isOpenNow = false;
      return;
    }
    // One reading is no rate; no tick since the last is none either: keep the decision.
    if (prev === null || times.total - prev.total <= 0) return;
    const isPressed = this.pressure >= this.maxPressure;
    if (isClean) {
      this.spare = (Math.max(0, times.idle - prev.idle) / (times.total - prev.total)) * this.cores;
      this.isOpenNow = this.spare >= this.minSpareCores && !isPressed;
      this.openSamples = 0;
      return;
    }
    if (isPressed) {
      this.isOpenNow = false;
      return;
    }
    if (++this.openSamples >= this.probeEvery - 1) {
      // Close for the next sample, so it reads the machine without this poller.
      this.isOpenNow = false;
      this.isProbing = true;
    }
  };

  /** The sample under way is a probe (closed only to measure). */
  get isProbe(): boolean {
    return this.isProbing;
  }
}
