import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { McBinaryParser } from '../../../../proxy/memcached/binary-parser.js';
import { BinStatus } from '../../../../proxy/memcached/binary-protocol.js';
import type { BinParseResult } from '../../../../proxy/memcached/binary-commands.js';
import type { McParserOptions } from '../../../../proxy/memcached/options.js';
import { BinOp, counterExtras, req, storeExtras, u32 } from './binary-helpers.js';

const test = suite('proxy memcached - binary protocol parser');

/** Results as plain objects (bytes as latin1 text, bigints as strings) for deep equality. */
function plainOf(r: BinParseResult): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) {
    out[k] = v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : typeof v === 'bigint' ? v.toString() : v;
  }
  return out;
}

function parseAll(input: Buffer, options: Partial<McParserOptions> = {}, chunkBytes = Infinity, isEnded = false): Array<Record<string, unknown>> {
  const p = new McBinaryParser(options);
  const out: Array<Record<string, unknown>> = [];
  for (let at = 0; at < input.length; at += chunkBytes) {
    p.push(input.subarray(at, Math.min(input.length, at + chunkBytes)));
    for (let r = p.next(); r !== null; r = p.next()) out.push(plainOf(r));
  }
  if (isEnded) for (let r = p.next(true); r !== null; r = p.next(true)) out.push(plainOf(r));
  return out;
}

function error(opcode: number, status: number, opaque = 0, isFatal = false): (r: Record<string, unknown>) => void {
  return (r) => {
    assert.is(r.kind, 'error', JSON.stringify(r));
    assert.is(r.opcode, opcode);
    assert.is(r.status, status, JSON.stringify(r));
    assert.is(r.opaque, opaque);
    assert.is(r.isFatal, isFatal);
  };
}

const SCRIPT = Buffer.concat([
  req(BinOp.GET, { key: 'a', opaque: 1 }),
  req(BinOp.GETKQ, { key: 'b', opaque: 2 }),
  req(BinOp.GAT, { key: 'c', extras: u32(30), opaque: 3 }),
  req(BinOp.SETQ, { key: 'd', value: 'hello', extras: storeExtras(7, 60), cas: 99n, opaque: 4 }),
  req(BinOp.APPEND, { key: 'd', value: '!', opaque: 5 }),
  req(BinOp.DELETE, { key: 'd', cas: 5n, opaque: 6 }),
  req(BinOp.INCREMENT, { key: 'n', extras: counterExtras(5n, 10n, 0xffffffff), opaque: 7 }),
  req(BinOp.DECREMENTQ, { key: 'n', extras: counterExtras(1n, 0n, 60), opaque: 8 }),
  req(BinOp.FLUSH, { opaque: 9 }),
  req(BinOp.FLUSHQ, { extras: u32(10), opaque: 10 }),
  req(BinOp.STAT, { key: 'items', opaque: 11 }),
  req(BinOp.SASL_AUTH, { key: 'PLAIN', value: '\0u\0p', opaque: 12 }),
  req(BinOp.TOUCH, { key: 't', extras: u32(5), opaque: 13 }),
  req(BinOp.NOOP, { opaque: 14 }),
  req(BinOp.QUITQ, { opaque: 15 }),
]);

test('every request shape is parsed with its fields', () => {
  const r = parseAll(SCRIPT);
  assert.equal(r, [
    { opcode: BinOp.GET, opaque: 1, kind: 'get', key: 'a', ttl: null, isQuiet: false, withKey: false },
    { opcode: BinOp.GETKQ, opaque: 2, kind: 'get', key: 'b', ttl: null, isQuiet: true, withKey: true },
    { opcode: BinOp.GAT, opaque: 3, kind: 'get', key: 'c', ttl: 30, isQuiet: false, withKey: false },
    { opcode: BinOp.SETQ, opaque: 4, kind: 'store', mode: 'set', key: 'd', value: 'hello', flags: 7, ttl: 60, cas: '99', isQuiet: true },
    { opcode: BinOp.APPEND, opaque: 5, kind: 'store', mode: 'append', key: 'd', value: '!', flags: 0, ttl: 0, cas: '0', isQuiet: false },
    { opcode: BinOp.DELETE, opaque: 6, kind: 'delete', key: 'd', cas: '5', isQuiet: false },
    { opcode: BinOp.INCREMENT, opaque: 7, kind: 'counter', op: 'incr', key: 'n', delta: '5', initial: '10', ttl: null, cas: '0', isQuiet: false },
    { opcode: BinOp.DECREMENTQ, opaque: 8, kind: 'counter', op: 'decr', key: 'n', delta: '1', initial: '0', ttl: 60, cas: '0', isQuiet: true },
    { opcode: BinOp.FLUSH, opaque: 9, kind: 'flush', delaySec: 0, isQuiet: false },
    { opcode: BinOp.FLUSHQ, opaque: 10, kind: 'flush', delaySec: 10, isQuiet: true },
    { opcode: BinOp.STAT, opaque: 11, kind: 'stat', group: 'items' },
    { opcode: BinOp.SASL_AUTH, opaque: 12, kind: 'sasl-auth', mechanism: 'PLAIN', data: '\0u\0p' },
    { opcode: BinOp.TOUCH, opaque: 13, kind: 'touch', key: 't', ttl: 5 },
    { opcode: BinOp.NOOP, opaque: 14, kind: 'noop' },
    { opcode: BinOp.QUITQ, opaque: 15, kind: 'quit', isQuiet: true },
  ]);
});

test('the same bytes give the same requests however they are split', () => {
  const whole = parseAll(SCRIPT);
  for (const size of [1, 2, 3, 7, 23, 24, 25, 100]) assert.equal(parseAll(SCRIPT, {}, size), whole, `chunks of ${size}`);
});

test('malformed requests get EINVAL or UNKNOWN_COMMAND and the stream stays usable', () => {
  const cases: Array<[Buffer, number, number]> = [
    [req(BinOp.GET, { key: 'a', extras: u32(1) }), BinOp.GET, BinStatus.EINVAL],
    [req(BinOp.GET, {}), BinOp.GET, BinStatus.EINVAL],
    [req(BinOp.GET, { key: 'a', value: 'x' }), BinOp.GET, BinStatus.EINVAL],
    [req(BinOp.SET, { key: 'a', value: 'x' }), BinOp.SET, BinStatus.EINVAL],
    [req(BinOp.INCREMENT, { key: 'a', extras: u32(1) }), BinOp.INCREMENT, BinStatus.EINVAL],
    [req(BinOp.NOOP, { key: 'a' }), BinOp.NOOP, BinStatus.EINVAL],
    [req(BinOp.GET, { key: 'k'.repeat(251) }), BinOp.GET, BinStatus.EINVAL],
    [req(BinOp.GET, { key: 'a', dataType: 1 }), BinOp.GET, BinStatus.EINVAL],
    [req(BinOp.DELETE, { key: 'a', extras: u32(10) }), BinOp.DELETE, BinStatus.EINVAL],
    [req(0x7f, { key: 'a', value: 'zzz' }), 0x7f, BinStatus.UNKNOWN_COMMAND],
    [req(0x48, {}), 0x48, BinStatus.UNKNOWN_COMMAND],
  ];
  for (const [frame, opcode, status] of cases) {
    const r = parseAll(Buffer.concat([frame, req(BinOp.NOOP, { opaque: 42 })]));
    assert.is(r.length, 2, JSON.stringify(r));
    error(opcode, status)(r[0]!);
    assert.equal(r[1], { opcode: BinOp.NOOP, opaque: 42, kind: 'noop' });
  }
  // Extras and key longer than the body the header declares.
  const lying = req(BinOp.GET, { key: 'abc' });
  lying.writeUInt32BE(2, 8);
  const r = parseAll(Buffer.concat([lying.subarray(0, 26), req(BinOp.NOOP, { opaque: 42 })]));
  error(BinOp.GET, BinStatus.EINVAL)(r[0]!);
  assert.equal(r[1], { opcode: BinOp.NOOP, opaque: 42, kind: 'noop' });
});

test('an oversized body is answered E2BIG and skipped; past maxSwallowBytes the stream is given up', () => {
  const big = req(BinOp.SET, { key: 'a', value: Buffer.alloc(5000), extras: storeExtras(0, 0), opaque: 3 });
  const r = parseAll(Buffer.concat([big, req(BinOp.NOOP, { opaque: 4 })]), { maxValueBytes: 1000 }, 512);
  assert.is(r.length, 2);
  error(BinOp.SET, BinStatus.E2BIG, 3)(r[0]!);
  assert.is(r[1]!.kind, 'noop');
  // A value over the limit inside a body that is not (the key and extras are counted too).
  const edge = req(BinOp.SET, { key: 'a', value: Buffer.alloc(1001), extras: storeExtras(0, 0), opaque: 5 });
  error(BinOp.SET, BinStatus.E2BIG, 5)(parseAll(edge, { maxValueBytes: 1000 })[0]!);
  // A declared body past the swallow limit: fatal, nothing after it is parsed.
  const huge = Buffer.alloc(24);
  huge[0] = 0x80;
  huge[1] = BinOp.SET;
  huge.writeUInt32BE(0xffffffff, 8);
  huge.writeUInt32BE(6, 12);
  const f = parseAll(Buffer.concat([huge, req(BinOp.NOOP)]), { maxSwallowBytes: 1 << 20 });
  assert.is(f.length, 1);
  error(BinOp.SET, BinStatus.E2BIG, 6, true)(f[0]!);
});

test('a bad magic byte mid-stream is fatal: answered, then nothing more is parsed', () => {
  const bad = req(BinOp.GET, { key: 'a', magic: 0x81, opaque: 9 });
  const r = parseAll(Buffer.concat([req(BinOp.NOOP, { opaque: 1 }), bad, req(BinOp.NOOP, { opaque: 2 })]));
  assert.is(r.length, 2);
  assert.is(r[0]!.kind, 'noop');
  error(BinOp.GET, BinStatus.EINVAL, 9, true)(r[1]!);
  // Text after a binary request is not a request either.
  const t = parseAll(Buffer.concat([req(BinOp.NOOP), Buffer.from('get a\r\n'.repeat(4))]));
  assert.is(t[1]!.isFatal, true);
});

test('a request cut short by the end of the stream is answered as a fatal EINVAL', () => {
  const frame = req(BinOp.SET, { key: 'a', value: 'hello', extras: storeExtras(0, 0), opaque: 77 });
  const headerOnly = parseAll(frame.subarray(0, 20), {}, Infinity, true);
  assert.is(headerOnly.length, 1);
  error(BinOp.SET, BinStatus.EINVAL, 77, true)(headerOnly[0]!);
  const bodyCut = parseAll(frame.subarray(0, frame.length - 2), {}, Infinity, true);
  error(BinOp.SET, BinStatus.EINVAL, 77, true)(bodyCut[0]!);
  const tiny = parseAll(Buffer.from([0x80]), {}, Infinity, true);
  error(0, BinStatus.EINVAL, 0, true)(tiny[0]!);
  assert.equal(parseAll(Buffer.alloc(0), {}, Infinity, true), [], 'a clean end is no error');
});

test('a lower value limit (before authentication) refuses larger values', () => {
  const p = new McBinaryParser({});
  p.setValueLimit(16);
  p.push(req(BinOp.SASL_AUTH, { key: 'PLAIN', value: 'x'.repeat(100), opaque: 1 }));
  const r = p.next()!;
  assert.is(r.kind, 'error');
  assert.is((r as { status: number }).status, BinStatus.E2BIG);
});

test('hostile input: random bytes and random headers never throw and never loop', () => {
  for (let i = 0; i < 300; i++) {
    const junk = randomBytes(1 + (i % 97) * 3);
    if (i % 2 === 0) junk[0] = 0x80;
    const p = new McBinaryParser({ maxSwallowBytes: 4096 });
    p.push(junk);
    let n = 0;
    for (let r = p.next(true); r !== null && n < 1000; r = p.next(true)) n++;
    assert.ok(n < 1000);
  }
});

test.run();
