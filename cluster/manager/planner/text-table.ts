/** A plain-text table with right-aligned numeric columns, for the simulator's output. */

export type Cell = string | number;

function show(cell: Cell): string {
  return typeof cell === 'number' ? (Number.isInteger(cell) ? String(cell) : cell.toFixed(3)) : cell;
}

/** Render `rows` under `header`: the first `leftColumns` columns align left, the others right. */
export function renderTable(header: readonly string[], rows: readonly Cell[][], leftColumns = 1): string {
  const text = [header.map(String), ...rows.map((r) => r.map(show))];
  const widths = header.map((_, c) => Math.max(...text.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]): string => r.map((cell, c) => (c < leftColumns ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ').trimEnd();
  return [line(text[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n');
}
