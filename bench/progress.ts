import { SingleBar } from 'cli-progress';
import { formatCount } from './histogram.js';

/** What the progress display reads on each tick. */
export interface ProgressSample {
  /** Progress towards `total`, in the run's own unit (ms elapsed or operations). */
  value: number;
  /** Operations completed so far. */
  ops: number;
}

export interface ProgressOptions {
  /** Shown in front of the bar or line. */
  label: string;
  /** Value at which the run is complete. */
  total: number;
  /** Read on every tick; must be cheap. */
  sample: () => ProgressSample;
  /** Where to draw. @default process.stderr */
  stream?: NodeJS.WriteStream;
  /** Draw a bar (true) or print a compact line per interval (false). @default stream.isTTY */
  isTty?: boolean;
  /** Print nothing at all. @default false */
  isQuiet?: boolean;
  /** Line interval when not on a terminal, ms. @default 1000 */
  lineIntervalMs?: number;
}

/** A running progress display; `stop()` is idempotent. */
export interface ProgressHandle {
  stop(): void;
}

const BAR_REFRESH_MS = 200;

/**
 * A progress bar (cli-progress) on a terminal, otherwise one compact line per second,
 * so logs of CI runs stay readable.
 */
export function startProgress(opts: ProgressOptions): ProgressHandle {
  if (opts.isQuiet === true) return { stop: (): void => undefined };
  const stream = opts.stream ?? process.stderr;
  const isTty = opts.isTty ?? stream.isTTY === true;
  return isTty ? startBar(opts, stream) : startLines(opts, stream);
}

function startBar(opts: ProgressOptions, stream: NodeJS.WriteStream): ProgressHandle {
  const bar = new SingleBar({
    stream,
    format: `${opts.label.padEnd(14)} [{bar}] {percentage}% | {rate} ops/s | {done} ops`,
    barsize: 24,
    hideCursor: true,
    clearOnComplete: true,
    fps: 10,
  });
  const startedAt = performance.now();
  const payload = (s: ProgressSample): Record<string, string> => ({
    rate: formatCount(s.ops / Math.max(1e-3, (performance.now() - startedAt) / 1000)),
    done: formatCount(s.ops),
  });
  bar.start(opts.total, 0, payload({ value: 0, ops: 0 }));
  const timer = setInterval(() => {
    const s = opts.sample();
    bar.update(Math.min(s.value, opts.total), payload(s));
  }, BAR_REFRESH_MS);
  let isStopped = false;
  return {
    stop(): void {
      if (isStopped) return;
      isStopped = true;
      clearInterval(timer);
      bar.stop();
    },
  };
}

function startLines(opts: ProgressOptions, stream: NodeJS.WriteStream): ProgressHandle {
  const startedAt = performance.now();
  let lastAt = startedAt;
  let lastOps = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    const s = opts.sample();
    const rate = (s.ops - lastOps) / Math.max(1e-3, (now - lastAt) / 1000);
    const pct = opts.total > 0 ? Math.min(100, Math.floor((s.value / opts.total) * 100)) : 0;
    stream.write(`  ${opts.label} ${((now - startedAt) / 1000).toFixed(1)}s ${pct}% ${formatCount(s.ops)} ops ${formatCount(rate)} ops/s\n`);
    lastAt = now;
    lastOps = s.ops;
  }, opts.lineIntervalMs ?? 1000);
  let isStopped = false;
  return {
    stop(): void {
      if (isStopped) return;
      isStopped = true;
      clearInterval(timer);
    },
  };
}
