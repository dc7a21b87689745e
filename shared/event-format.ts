/**
 * How one cluster event becomes one log line, without I/O. Whatever a field holds
 * (spaces, quotes, newlines, control characters, lone surrogates), the line never
 * breaks: every character a line-oriented tool could take for a line end is escaped.
 */

/** A field value an event can carry. */
export type EventValue = string | number | boolean | null;

/** Where an event came from. */
export type EventComponent = 'node' | 'manager' | 'proxy';

/** Log line formats. */
export type LogFormat = 'text' | 'json';

/** The log formats, for switch parsing and help text. */
export const LOG_FORMATS: readonly LogFormat[] = Object.freeze(['text', 'json'] as const);

/** One recorded cluster event. */
export interface ClusterEvent {
  /** When it was recorded, ms since the epoch. */
  at: number;
  /** Position in its log, from 1; increases by one per event. */
  seq: number;
  /** Stable lowercase kebab name (`failover`, `epoch-change`, …). */
  name: string;
  component: EventComponent;
  /** The recording process's id (node id, manager id), when it has one. */
  id?: string;
  fields: Record<string, EventValue>;
}

/** True when `value` names a log format. */
export function isLogFormat(value: unknown): value is LogFormat {
  return value === 'text' || value === 'json';
}

// Characters JSON.stringify leaves alone but some line readers split on
// (NEL, LS, PS, and the rest of C1 with DEL, for terminals).
const LINE_HAZARDS = /[\u007f-\u009f\u2028\u2029]/g;

function hexEscape(ch: string): string {
  return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** JSON.stringify, with the line hazards JSON leaves raw escaped too. Still valid JSON. */
export function safeJson(value: unknown): string {
  return JSON.stringify(value).replace(LINE_HAZARDS, hexEscape);
}

// A value written bare in text lines: no spaces, quotes, '=', backslashes or controls.
const BARE_VALUE = /^[A-Za-z0-9_.:/@+,%-]+$/;

/** One value as text: bare when safe, otherwise a JSON-quoted string. */
export function textValue(value: EventValue): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  return BARE_VALUE.test(value) ? value : safeJson(value);
}

/** `<ISO time> event=<name> component=<c> id=<id> k=v ...` */
export function formatText(event: ClusterEvent): string {
  let line = `${new Date(event.at).toISOString()} event=${textValue(event.name)} component=${event.component}`;
  if (event.id !== undefined) line += ` id=${textValue(event.id)}`;
  for (const key of Object.keys(event.fields)) line += ` ${key}=${textValue(event.fields[key]!)}`;
  return line;
}

/** One JSON object: `{"time":…,"event":…,"component":…,"id":…,"seq":…,"fields":{…}}`. */
export function formatJson(event: ClusterEvent): string {
  const out: Record<string, unknown> = { time: new Date(event.at).toISOString(), event: event.name, component: event.component };
  if (event.id !== undefined) out['id'] = event.id;
  out['seq'] = event.seq;
  out['fields'] = event.fields;
  return safeJson(out);
}

/** The line for `event` in `format`, without a trailing newline. */
export function formatEvent(event: ClusterEvent, format: LogFormat): string {
  return format === 'json' ? formatJson(event) : formatText(event);
}
