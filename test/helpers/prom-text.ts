import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as assert from 'uvu/assert';

/** Debian's promtool (package `prometheus`, in .ci/system-packages.txt). */
export const PROMTOOL_BIN = process.env['PANDAKV_PROMTOOL_BIN'] ?? '/usr/bin/promtool';

/** The value of one sample (`name{labels} value`); labels given must all match. Null when absent. */
export function sampleOf(text: string, name: string, labels: Record<string, string> = {}): number | null {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)].map((x) => [x[1]!, x[2]!]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return null;
}

/** Every metric family's name and type (`# TYPE` lines). */
export function familiesOf(text: string): Array<{ name: string; type: string }> {
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => ({ name: m[1]!, type: m[2]! }));
}

/**
 * The project's naming rules on `pandakv_*` families: snake_case
 * `pandakv_<component>_<what>[_<unit>]` where component is this process's, counters end
 * `_total`, nothing else does, and no millisecond or microsecond units.
 */
export function assertNames(text: string, component: string): void {
  const fams = familiesOf(text);
  assert.ok(fams.some((f) => f.name.startsWith('process_')), 'default process metrics are exported');
  for (const f of fams) {
    if (!f.name.startsWith('pandakv_')) continue;
    assert.match(f.name, /^pandakv_[a-z]+(_[a-z0-9]+)+$/, `snake_case name: ${f.name}`);
    if (component !== 'manager') assert.ok(f.name.startsWith(`pandakv_${component}_`), `${f.name} names its component ${component}`);
    if (f.type === 'counter') assert.ok(f.name.endsWith('_total'), `counter ${f.name} ends in _total`);
    else assert.not.ok(f.name.endsWith('_total'), `${f.type} ${f.name} must not end in _total`);
    assert.not.match(f.name, /_(ms|us|millis|milliseconds|microseconds)(_|$)/, `${f.name} uses a base unit`);
  }
}

/** promtool's verdict on a scrape: null when it is clean, else its complaints; undefined when promtool is not installed. */
export async function promtoolProblems(text: string): Promise<string | null | undefined> {
  if (!existsSync(PROMTOOL_BIN)) return undefined;
  const child = spawn(PROMTOOL_BIN, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  child.stdin.end(text);
  const code = await exited;
  return code === 0 ? null : out.trim() || `exit code ${String(code)}`;
}
