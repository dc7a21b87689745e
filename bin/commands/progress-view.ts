import { Presets, SingleBar } from 'cli-progress';
import { formatEta } from '../../cluster/manager/move-follow.js';

/** Progress of `pandakv backup` and `pandakv restore`, in the style of the cluster commands' move bar. */
/** A bar on a terminal; elsewhere a line at each tenth of the units. */
export class ProgressView {
  private bar: SingleBar | null = null;
  private lastTenth = -1;

  constructor(private readonly label: string, private readonly isTty: boolean) {}

  update(p: { unitsDone: number; unitsTotal: number; items: number }, startedMs: number): void {
    const elapsed = Date.now() - startedMs;
    const eta = p.unitsDone === 0 ? null : ((p.unitsTotal - p.unitsDone) * elapsed) / p.unitsDone;
    if (this.isTty) {
      if (this.bar === null) {
        this.bar = new SingleBar({ format: `${this.label}  {bar} {value}/{total} units | {items} items | ETA {eta}`, hideCursor: true }, Presets.shades_classic);
        this.bar.start(p.unitsTotal, p.unitsDone, { items: p.items, eta: formatEta(eta) });
      } else {
        this.bar.update(p.unitsDone, { items: p.items, eta: formatEta(eta) });
      }
      return;
    }
    const tenth = p.unitsTotal === 0 ? 10 : Math.floor((p.unitsDone * 10) / p.unitsTotal);
    if (tenth === this.lastTenth) return;
    this.lastTenth = tenth;
    process.stdout.write(`${this.label}: ${p.unitsDone}/${p.unitsTotal} units, ${p.items} items, ETA ${formatEta(eta)}\n`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
