import { suite } from '../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { EventLog, EVENT_LOG_DEFAULTS, isLogFormat, type ClusterEvent, type EventLogOptions, type EventValue } from '../../../shared/event-log.js';
import { formatText, textValue } from '../../../shared/event-format.js';

const test = suite('shared - event log');

const AT = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

function makeLog(options: Partial<EventLogOptions> = {}): { log: EventLog; lines: string[] } {
  const lines: string[] = [];
  const log = new EventLog({ component: 'manager', id: 'm1', now: () => AT, write: (line) => lines.push(line), ...options });
  return { log, lines };
}

/** Splits text the way line readers do (LF, CR, VT, FF, NEL, LS, PS, and the FS/GS/RS separators). */
function physicalLines(text: string): string[] {
  return text.split(/\r\n|[\n\r\u000b\u000c\u001c-\u001e\u0085\u2028\u2029]/);
}

/** Reads a text line back: `k=v` pairs where v is bare or a JSON string. */
function parseText(line: string): { time: string; pairs: [string, string][] } {
  const space = line.indexOf(' ');
  const time = line.slice(0, space);
  const pairs: [string, string][] = [];
  let rest = line.slice(space + 1);
  while (rest.length > 0) {
    const m = /^([A-Za-z0-9_.-]+)=/.exec(rest);
    assert.ok(m, `a key at: ${rest.slice(0, 40)}`);
    rest = rest.slice(m[0].length);
    let value: string;
    if (rest.startsWith('"')) {
      const end = /^"(?:[^"\\]|\\.)*"/.exec(rest);
      assert.ok(end, 'a closed quoted value');
      value = JSON.parse(end[0]) as string;
      rest = rest.slice(end[0].length);
    } else {
      const end = rest.indexOf(' ');
      value = end < 0 ? rest : rest.slice(0, end);
      rest = end < 0 ? '' : rest.slice(end);
    }
    pairs.push([m[1]!, value]);
    assert.ok(rest === '' || rest.startsWith(' '), 'pairs are separated by one space');
    rest = rest.slice(1);
  }
  return { time, pairs };
}

const HOSTILE: string[] = [
  '',
  ' ',
  'two words',
  'quote"inside',
  '"',
  '\\',
  'back\\slash"quote',
  'line\nbreak',
  'carriage\rreturn',
  'crlf\r\n',
  'tab\there',
  'nul\u0000byte',
  'bell\u0007 esc\u001b[31m',
  'vt\u000bff\u000cfs\u001cgs\u001drs\u001e',
  'del\u007f nel\u0085 c1\u009b',
  'ls\u2028ps\u2029',
  'lone \ud800 surrogate \udfff',
  'emoji 🐼 ok',
  'k=v event=fake component=proxy',
  ' event=forged id=x',
  '\n2026-01-01T00:00:00.000Z event=node-fail component=manager',
  'x'.repeat(10_000),
];

test('text lines: ISO time, event, component, id, then the fields in order', () => {
  const { log, lines } = makeLog();
  log.record('failover', { node: 'n2', units: 12, isGraceful: false, reason: null });
  assert.equal(lines, ['2026-01-02T03:04:05.678Z event=failover component=manager id=m1 node=n2 units=12 isGraceful=false reason=null']);
});

test('text lines leave out id= when the log has no id', () => {
  const { log, lines } = makeLog({ id: undefined, component: 'proxy' });
  log.record('manager-switch', {});
  assert.equal(lines, ['2026-01-02T03:04:05.678Z event=manager-switch component=proxy']);
});

test('json lines: one object a line with time, event, component, id, seq and fields', () => {
  const { log, lines } = makeLog({ format: 'json' });
  log.record('epoch-change', { oldEpoch: 3, newEpoch: 4, rev: 17 });
  assert.is(lines.length, 1);
  assert.equal(JSON.parse(lines[0]!), {
    time: '2026-01-02T03:04:05.678Z', event: 'epoch-change', component: 'manager', id: 'm1', seq: 1,
    fields: { oldEpoch: 3, newEpoch: 4, rev: 17 },
  });
});

test('the format defaults to text and a bad one is refused', () => {
  assert.is(EVENT_LOG_DEFAULTS.format, 'text');
  assert.ok(Object.isFrozen(EVENT_LOG_DEFAULTS));
  const { log } = makeLog({ format: undefined });
  assert.is(log.format, 'text');
  assert.throws(() => makeLog({ format: 'yaml' as unknown as 'text' }), (e: unknown) => e instanceof RangeError);
  assert.ok(isLogFormat('json'));
  assert.ok(isLogFormat('text'));
  for (const bad of ['JSON', '', 'text ', null, 1]) assert.not.ok(isLogFormat(bad));
});

test('every hostile value stays on one text line and reads back exactly', () => {
  for (const value of HOSTILE) {
    const { log, lines } = makeLog({ maxValueChars: 20_000 });
    log.record('node-join', { node: value, other: 1 });
    assert.is(lines.length, 1);
    assert.is(physicalLines(lines[0]!).length, 1, `one line for ${JSON.stringify(value)}`);
    const { time, pairs } = parseText(lines[0]!);
    assert.is(time, '2026-01-02T03:04:05.678Z');
    const lone = /[\ud800-\udfff]/.test(value.replace(/[\ud800-\udbff][\udc00-\udfff]/g, ''));
    assert.equal(pairs.map(([k]) => k), ['event', 'component', 'id', 'node', 'other']);
    assert.is(pairs[0]![1], 'node-join');
    assert.is(pairs[1]![1], 'manager');
    // Lone surrogates are escaped, so they read back as themselves too.
    if (!lone) assert.is(pairs[3]![1], value);
    else assert.is(pairs[3]![1].length, value.length);
    assert.is(pairs[4]![1], '1');
  }
});

test('every hostile value stays on one JSON line and parses back exactly', () => {
  for (const value of HOSTILE) {
    const { log, lines } = makeLog({ format: 'json', id: value, maxValueChars: 20_000 });
    log.record('node-join', { node: value });
    assert.is(physicalLines(lines[0]!).length, 1, `one line for ${JSON.stringify(value)}`);
    const parsed = JSON.parse(lines[0]!) as { id: string; fields: { node: string } };
    assert.is(parsed.fields.node, value);
    assert.is(parsed.id, value);
  }
});

test('a hostile id is escaped in text lines too', () => {
  const { log, lines } = makeLog({ id: 'm1 event=forged\nnext' });
  log.record('leader-elected', {});
  assert.is(physicalLines(lines[0]!).length, 1);
  assert.equal(parseText(lines[0]!).pairs[2], ['id', 'm1 event=forged\nnext']);
});

test('an id learnt after the start is printed from then on', () => {
  const { log, lines } = makeLog({ id: undefined, component: 'node' });
  log.record('fence', {});
  log.id = 'node-7';
  log.record('unfence', {});
  assert.is(log.id, 'node-7');
  assert.ok(!lines[0]!.includes('id='));
  assert.ok(lines[1]!.endsWith('event=unfence component=node id=node-7'));
  assert.is(log.recent()[1]!.id, 'node-7');
});

test('hostile field names become safe keys and cannot shadow the header', () => {
  const { log, lines } = makeLog();
  log.record('node-add', {
    'has space': 1, 'x=y': 2, 'new\nline': 3, '': 4, event: 'forged', component: 'node', id: 'n9',
    __proto__x: 5, ['__proto__']: 'proto', ['k'.repeat(500)]: 6,
  } as Record<string, EventValue>);
  const { pairs } = parseText(lines[0]!);
  const keys = pairs.map(([k]) => k);
  assert.equal(keys.slice(0, 3), ['event', 'component', 'id']);
  assert.equal(pairs.slice(0, 3).map(([, v]) => v), ['node-add', 'manager', 'm1']);
  assert.ok(keys.includes('has_space'));
  assert.ok(keys.includes('x_y'));
  assert.ok(keys.includes('new_line'));
  assert.ok(keys.includes('_'));
  assert.ok(keys.includes('event_'));
  assert.ok(keys.includes('component_'));
  assert.ok(keys.includes('id_'));
  assert.ok(keys.includes('__proto__'), 'a __proto__ key is a plain field');
  assert.ok(keys.every((k) => k.length <= 64), 'keys are bounded');
  const stored = log.recent(1)[0]!;
  assert.is(Object.getPrototypeOf(stored.fields), Object.prototype);
  assert.is(stored.fields['__proto__'], 'proto');
});

test('oversized values are cut and marked, field count is bounded', () => {
  const { log, lines } = makeLog({ maxValueChars: 16, maxFields: 3 });
  const many: Record<string, EventValue> = {};
  for (let i = 0; i < 100; i++) many[`f${i}`] = 'y'.repeat(1_000_000);
  log.record('rebalance-start', many);
  const stored = log.recent()[0]!;
  assert.equal(Object.keys(stored.fields), ['f0', 'f1', 'f2']);
  assert.is(stored.fields['f0'], `${'y'.repeat(16)}…`);
  assert.ok(lines[0]!.length < 200, `line is short: ${lines[0]!.length}`);
});

test('non-finite numbers and values of the wrong type are written as strings, never called', () => {
  const { log, lines } = makeLog({ format: 'json' });
  const hostile = { toString(): string { throw new Error('called'); } };
  log.record('node-fail', { a: Number.NaN, b: Number.POSITIVE_INFINITY, c: hostile as unknown as string, d: 10n as unknown as number, e: undefined as unknown as null });
  const parsed = JSON.parse(lines[0]!) as { fields: Record<string, unknown> };
  assert.equal(parsed.fields, { a: 'NaN', b: 'Infinity', c: '[object]', d: '10', e: '[undefined]' });
});

test('the ring keeps the last `capacity` events, oldest first', () => {
  const { log } = makeLog({ capacity: 5 });
  for (let i = 1; i <= 12; i++) log.record('node-add', { i });
  assert.is(log.total, 12);
  assert.equal(log.recent().map((e) => e.fields['i']), [8, 9, 10, 11, 12]);
  assert.equal(log.recent().map((e) => e.seq), [8, 9, 10, 11, 12]);
  assert.equal(log.recent(2).map((e) => e.fields['i']), [11, 12]);
  assert.equal(log.recent(100).length, 5);
  assert.equal(log.recent(0), []);
  assert.equal(log.recent(-3), []);
  assert.equal(log.recent(2.9).length, 2);
  assert.equal(log.recent(Number.NaN).length, 5);
  assert.equal(log.recent(Number.POSITIVE_INFINITY).length, 5);
});

test('before the ring fills, recent() returns what there is in order', () => {
  const { log } = makeLog({ capacity: 5 });
  assert.equal(log.recent(), []);
  log.record('a', {});
  log.record('b', {});
  assert.equal(log.recent().map((e) => e.name), ['a', 'b']);
});

test('a bad capacity, value or field bound is refused', () => {
  for (const capacity of [0, -1, 1.5, Number.NaN]) assert.throws(() => makeLog({ capacity }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => makeLog({ maxValueChars: 0 }), (e: unknown) => e instanceof RangeError);
  assert.throws(() => makeLog({ maxFields: -1 }), (e: unknown) => e instanceof RangeError);
});

test('each event is emitted after it is stored, with the same object recent() returns', () => {
  const { log } = makeLog();
  const seen: ClusterEvent[] = [];
  const onEvent = (e: ClusterEvent): void => {
    assert.is(log.recent(1)[0], e);
    seen.push(e);
  };
  log.on('event', onEvent);
  log.record('rollback', { unit: 3, seqno: 99 });
  log.off('event', onEvent);
  log.record('rollback', { unit: 4 });
  assert.is(seen.length, 1);
  assert.equal(seen[0], { at: AT, seq: 1, name: 'rollback', component: 'manager', id: 'm1', fields: { unit: 3, seqno: 99 } });
});

test('a throwing writer is counted, not thrown, and the event is still kept and emitted', () => {
  const log = new EventLog({ component: 'node', write: () => { throw new Error('EPIPE'); } });
  let emitted = 0;
  log.on('event', () => { emitted++; });
  log.record('fence', { epoch: 2 });
  assert.is(log.writeFailures, 1);
  assert.is(log.recent().length, 1);
  assert.is(emitted, 1);
});

test('text values: literals and safe strings bare, everything else quoted', () => {
  assert.is(textValue(null), 'null');
  assert.is(textValue(true), 'true');
  assert.is(textValue(-1.5), '-1.5');
  assert.is(textValue('ws://127.0.0.1:80/map'), 'ws://127.0.0.1:80/map');
  assert.is(textValue(''), '""');
  assert.is(textValue('a b'), '"a b"');
  assert.is(textValue('a=b'), '"a=b"');
  assert.is(textValue('\u2028'), '"\\u2028"');
  assert.is(formatText({ at: 0, seq: 1, name: 'x', component: 'node', fields: {} }), '1970-01-01T00:00:00.000Z event=x component=node');
});

test.run();
