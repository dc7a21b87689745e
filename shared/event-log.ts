import { EventEmitter } from 'eventemitter3';
import { formatEvent, type ClusterEvent, type EventComponent, type EventValue, type LogFormat } from './event-format.js';

export { LOG_FORMATS, isLogFormat, formatEvent } from './event-format.js';
export type { ClusterEvent, EventComponent, EventValue, LogFormat } from './event-format.js';

/** Options of an {@link EventLog}. */
export interface EventLogOptions {
  /** Which kind of process records. */
  component: EventComponent;
  /** The process's id, printed on every line. @default undefined */
  id?: string;
  /** Line format. @default 'text' */
  format: LogFormat;
  /** Where each line goes, without its trailing newline. @default a line on stderr */
  write: (line: string) => void;
  /** Events kept for {@link EventLog.recent}; older ones are dropped. @default 1000 */
  capacity: number;
  /** Longest string value kept; longer ones are cut and marked with `…`. @default 512 */
  maxValueChars: number;
  /** Most fields kept per event; the rest are dropped. @default 32 */
  maxFields: number;
  /** Clock, ms since the epoch. @default Date.now */
  now: () => number;
}

function writeStderrLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Defaults of {@link EventLogOptions} (all but `component`). */
export const EVENT_LOG_DEFAULTS: Readonly<Omit<EventLogOptions, 'component'>> = Object.freeze({
  format: 'text',
  write: writeStderrLine,
  capacity: 1000,
  maxValueChars: 512,
  maxFields: 32,
  now: Date.now,
});

/** Events of an {@link EventLog}. */
export interface EventLogEvents {
  /** Emitted after each event is stored and written. */
  event: (event: ClusterEvent) => void;
}

const MAX_KEY_CHARS = 64;
// Field names that would shadow the line's own header in text form.
const RESERVED_KEYS = new Set(['event', 'component', 'id']);

function cut(text: string, maxChars: number): string {
  return text.length <= maxChars ? text : `${text.slice(0, maxChars)}…`;
}

/** A field name safe to print as `k=`: letters, digits, `_ . -`, at most 64 characters. */
function fieldKey(raw: string): string {
  let key = raw.slice(0, MAX_KEY_CHARS).replace(/[^A-Za-z0-9_.-]/g, '_');
  if (key === '') key = '_';
  return RESERVED_KEYS.has(key) ? `${key}_` : key;
}

function fieldValue(raw: unknown, maxChars: number): EventValue {
  if (raw === null || typeof raw === 'boolean') return raw;
  if (typeof raw === 'number') return Number.isFinite(raw) ? raw : String(raw);
  if (typeof raw === 'string') return cut(raw, maxChars);
  if (typeof raw === 'bigint') return cut(raw.toString(), maxChars);
  // Not an EventValue: never call into it (a hostile toString could throw).
  return `[${typeof raw}]`;
}

/**
 * A process's log of cluster events: each event is kept in a bounded ring (for the
 * admin API and the dashboard), written as one line (text or JSON), and emitted as
 * `event`. Recording never throws: values are bounded and escaped, a failing writer
 * is counted in {@link EventLog.writeFailures} and otherwise ignored.
 */
export class EventLog extends EventEmitter<EventLogEvents> {
  readonly component: EventComponent;
  readonly format: LogFormat;
  /** Lines the writer threw on. */
  writeFailures = 0;
  private readonly options: EventLogOptions;
  private readonly ring: ClusterEvent[] = [];
  private head = 0;
  private seq = 0;
  private ownId: string | undefined;

  constructor(options: Partial<EventLogOptions> & Pick<EventLogOptions, 'component'>) {
    super();
    const o: EventLogOptions = { ...EVENT_LOG_DEFAULTS, ...stripUndefined(options) } as EventLogOptions;
    if (!Number.isInteger(o.capacity) || o.capacity < 1) throw new RangeError(`event log capacity must be an integer ≥ 1, got ${o.capacity}`);
    if (!Number.isInteger(o.maxValueChars) || o.maxValueChars < 1) throw new RangeError(`event log maxValueChars must be an integer ≥ 1, got ${o.maxValueChars}`);
    if (!Number.isInteger(o.maxFields) || o.maxFields < 0) throw new RangeError(`event log maxFields must be an integer ≥ 0, got ${o.maxFields}`);
    if (o.format !== 'text' && o.format !== 'json') throw new RangeError(`event log format must be text or json, got ${String(o.format)}`);
    this.options = o;
    this.component = o.component;
    this.id = o.id;
    this.format = o.format;
  }

  /** The recording process's id, printed on every line from now on. */
  get id(): string | undefined {
    return this.ownId;
  }

  /** Processes learn their id as they start (a node loads it from its data dir). */
  set id(id: string | undefined) {
    this.ownId = id === undefined ? undefined : cut(String(id), this.options.maxValueChars);
  }

  /** Events recorded since the start (the ring keeps only the last `capacity`). */
  get total(): number {
    return this.seq;
  }

  /** Record one event: store it, write its line, emit `event`. */
  record(name: string, fields: Record<string, EventValue> = {}): void {
    const o = this.options;
    const clean: Record<string, EventValue> = {};
    let kept = 0;
    for (const raw of Object.keys(fields)) {
      if (kept >= o.maxFields) break;
      const key = fieldKey(raw);
      if (Object.prototype.hasOwnProperty.call(clean, key)) continue;
      // defineProperty, not assignment: a key named `__proto__` must stay a plain field.
      Object.defineProperty(clean, key, { value: fieldValue(fields[raw], o.maxValueChars), enumerable: true, writable: true, configurable: true });
      kept++;
    }
    const event: ClusterEvent = { at: o.now(), seq: ++this.seq, name: cut(String(name), MAX_KEY_CHARS), component: this.component, fields: clean };
    if (this.ownId !== undefined) event.id = this.ownId;
    if (this.ring.length < o.capacity) this.ring.push(event);
    else {
      this.ring[this.head] = event;
      this.head = (this.head + 1) % o.capacity;
    }
    try {
      o.write(formatEvent(event, this.format));
    } catch {
      this.writeFailures++;
    }
    this.emit('event', event);
  }

  /** The last `limit` events (default and maximum: all kept), oldest first. */
  recent(limit?: number): ClusterEvent[] {
    const n = this.ring.length;
    let want = limit === undefined || Number.isNaN(limit) ? n : Math.floor(limit);
    want = Math.max(0, Math.min(n, want));
    const out: ClusterEvent[] = [];
    for (let i = n - want; i < n; i++) out.push(this.ring[(this.head + i) % n]!);
    return out;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] !== undefined) out[key] = o[key];
  return out;
}
