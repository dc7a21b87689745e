import { Presets, SingleBar } from 'cli-progress';

/** What `GET /api/rebalance` answers, as far as the CLI reads it. */
export interface RebalanceProgress {
  rev: number;
  applied: number;
  total: number;
  isDone: boolean;
  moves: { isMoving: boolean; isStopped: boolean; unitsMoved: number; unitsLeft: number; bytesCopied: number };
}

/** Options of `followMoves`. */
export interface FollowOptions {
  /** Give up when nothing changed (nodes applied, units moved, bytes copied) this long. */
  idleTimeoutMs: number;
  /** Draw a progress bar (a terminal) instead of one line per step. */
  isTty: boolean;
  /** Time between two looks at the progress. @default 200 */
  pollMs?: number;
  write: (text: string) => void;
}

/** Where the follow ended. */
export interface FollowResult {
  progress: RebalanceProgress;
  isStopped: boolean;
  unitsMoved: number;
  bytesCopied: number;
}

/** `1.5 MB`, `312 B`: bytes in the largest unit that keeps a number ≥ 1. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = Math.max(0, bytes);
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** `45 s`, `3 min 20 s`, `?` when unknown. */
export function formatEta(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '?';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const min = Math.floor(s / 60);
  return min < 60 ? `${min} min ${s % 60} s` : `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** Time left at the pace seen so far; null before a unit moved. */
export function etaMs(unitsDone: number, unitsLeft: number, elapsedMs: number): number | null {
  if (unitsDone <= 0 || elapsedMs <= 0) return unitsLeft === 0 ? 0 : null;
  return (unitsLeft * elapsedMs) / unitsDone;
}

/** One line of move progress: `moving: 3/8 units, 1.2 MB copied, ETA 5 s`. */
export function progressLine(unitsMoved: number, unitsLeft: number, bytesCopied: number, eta: number | null): string {
  return `moving: ${unitsMoved}/${unitsMoved + unitsLeft} units, ${formatBytes(bytesCopied)} copied, ETA ${formatEta(eta)}`;
}

/**
 * Follow a change until every node applied the newest map and the data moves it started
 * ended (or were stopped): a bar on a terminal, else a line each time units move.
 * @param look one `GET /api/rebalance`
 * @throws Error when nothing changed within `idleTimeoutMs`
 */
export async function followMoves(look: () => Promise<RebalanceProgress>, opts: FollowOptions): Promise<FollowResult> {
  const startedAt = Date.now();
  let first: RebalanceProgress | null = null;
  let lastKey = '';
  let changedAt = Date.now();
  let bar: SingleBar | null = null;
  try {
    for (;;) {
      const p = await look();
      first ??= p;
      const m = p.moves;
      const unitsDone = m.unitsMoved - first.moves.unitsMoved;
      const eta = m.isMoving ? etaMs(unitsDone, m.unitsLeft, Date.now() - startedAt) : 0;
      const key = `${p.rev}/${p.applied}/${m.unitsMoved}/${m.unitsLeft}/${m.bytesCopied}`;
      if (key !== lastKey) {
        changedAt = Date.now();
        lastKey = key;
        const units = m.unitsMoved + m.unitsLeft;
        if (opts.isTty && units > 0) {
          if (bar === null) {
            bar = new SingleBar({ format: 'moving  {bar} {value}/{total} units | {bytes} copied | ETA {eta} | rev {rev}', hideCursor: true }, Presets.shades_classic);
            bar.start(units, m.unitsMoved, { bytes: formatBytes(m.bytesCopied), eta: formatEta(eta), rev: p.rev });
          } else {
            bar.setTotal(units);
            bar.update(m.unitsMoved, { bytes: formatBytes(m.bytesCopied), eta: formatEta(eta), rev: p.rev });
          }
        } else if (!opts.isTty && m.isMoving) {
          opts.write(`${progressLine(m.unitsMoved, m.unitsLeft, m.bytesCopied, eta)}\n`);
        }
      }
      if (p.isDone || m.isStopped) {
        bar?.stop();
        bar = null;
        return { progress: p, isStopped: m.isStopped, unitsMoved: unitsDone, bytesCopied: m.bytesCopied };
      }
      if (Date.now() - changedAt > opts.idleTimeoutMs) {
        throw new Error(`no progress for ${opts.idleTimeoutMs} ms: rev ${p.rev} applied by ${p.applied}/${p.total} nodes, ${m.unitsLeft} units left to move`);
      }
      await new Promise<void>((resolve) => setTimeout(resolve, opts.pollMs ?? 200));
    }
  } finally {
    bar?.stop();
  }
}
