/** `badFrames` → `bad_frames`, `repl_deltaUnits` → `repl_delta_units`; snake_case stays as it is. */
export function snakeCase(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z])([A-Z][a-z])/g, '$1_$2').toLowerCase();
}

/** The same record with its keys in snake_case (the STATS op's keys). */
export function snakeKeys<V>(record: Readonly<Record<string, V>>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const [k, v] of Object.entries(record)) out[snakeCase(k)] = v;
  return out;
}
