import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { McParser } from '../../../../proxy/memcached/parser.js';
import { parseAll, parseChunks, type Plain } from './parse-helpers.js';
import type { McParserOptions } from '../../../../proxy/memcached/options.js';

const test = suite('proxy memcached - parser under chunking and hostile input');

/** Valid and broken pieces of protocol; streams are built by concatenating them. */
const PIECES: readonly string[] = [
  'get a\r\n', 'gets a b c\r\n', 'gat 10 k\r\n', 'gats 0 x y\r\n', 'get\r\n',
  'set k 0 0 5\r\nhello\r\n', 'set k 1 2 0 noreply\r\n\r\n', 'cas k 0 0 2 99\r\n\r\n\r\n',
  'append k 0 0 3\r\nabc\r\n', 'set k 0 0 3\r\nabcde\r\n', 'set k x 0 3\r\nabc\r\n',
  `set ${'k'.repeat(251)} 0 0 2\r\nab\r\n`, 'set k 0 0 20\r\nshort\r\n',
  'delete k\r\n', 'delete k 0 noreply\r\n', 'incr k 5\r\n', 'decr k 18446744073709551615 noreply\r\n',
  'touch k 10\r\n', 'version\r\n', 'verbosity 1\r\n', 'stats\r\n', 'mn\r\n', 'quit\r\n',
  'mg k v c f t s k Oab q\r\n', 'mg Zm9v b k v\r\n', 'mg k v v\r\n', 'ms k 2 T5 F3 c\r\nhi\r\n',
  'ms k 2 MX\r\nhi\r\n', 'md k q C4\r\n', 'ma k N0 J7 D2 MD v\r\n', 'ma k Dz\r\n',
  'bogus command\r\n', '\r\n', '\n', 'get a\tb\r\n', 'get a\n', '\x00\x01\x02\r\n', '\xff\xfe junk\r\n',
];

const OPTIONS: ReadonlyArray<Partial<McParserOptions>> = [
  {},
  { maxLineBytes: 64, maxRetrievalLineBytes: 96, maxValueBytes: 8, maxSwallowBytes: 32, maxKeysPerGet: 3, maxKeyBytes: 16 },
];

const cutsFor = (length: number): fc.Arbitrary<number[]> =>
  fc.array(fc.integer({ min: 0, max: Math.max(0, length) }), { maxLength: 24 }).map((a) => [...new Set(a)].sort((x, y) => x - y));

const ERROR_LINE = /^(ERROR|CLIENT_ERROR [\x20-\x7e]+|SERVER_ERROR [\x20-\x7e]+)$/;
const KINDS = new Set(['get', 'store', 'delete', 'counter', 'touch', 'verbosity', 'stats', 'version', 'quit', 'mn', 'mg', 'ms', 'md', 'ma', 'error']);

function checkShape(results: Plain[]): void {
  let isFatalSeen = false;
  for (const r of results) {
    assert.ok(!isFatalSeen, 'nothing follows a fatal error');
    assert.ok(KINDS.has(r.kind as string), `known kind ${String(r.kind)}`);
    if (r.kind === 'error') {
      assert.match(r.line as string, ERROR_LINE);
      isFatalSeen = r.isFatal === true;
    }
  }
}

test('streams of commands split at random points parse exactly as when whole', () => {
  for (const options of OPTIONS) {
    fc.assert(fc.property(
      fc.array(fc.constantFrom(...PIECES), { minLength: 1, maxLength: 12 }).chain((pieces) => {
        const text = pieces.join('');
        return fc.tuple(fc.constant(text), cutsFor(text.length));
      }),
      ([text, cuts]) => {
        const whole = parseAll(text, options);
        const split = parseChunks(text, cuts, options);
        assert.equal(split, whole);
        checkShape(whole);
      },
    ), { numRuns: 300 });
  }
});

test('every single cut point of a long mixed stream gives the same results', () => {
  const text = PIECES.filter((p) => p !== 'quit\r\n').join('');
  const whole = parseAll(text);
  assert.ok(whole.length >= PIECES.length - 1, 'the stream yields one result per piece (or more)');
  for (let i = 1; i < text.length; i++) assert.equal(parseChunks(text, [i]), whole, `cut at ${i}`);
  assert.equal(parseChunks(text, Array.from({ length: text.length }, (_, i) => i)), whole, 'one byte at a time');
});

test('random bytes never throw and give the same results however they are split', () => {
  for (const options of OPTIONS) {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 3000 }).chain((bytes) => fc.tuple(fc.constant(bytes), cutsFor(bytes.length))),
      ([bytes, cuts]) => {
        const whole = parseAll(bytes, options);
        assert.equal(parseChunks(bytes, cuts, options), whole);
        checkShape(whole);
      },
    ), { numRuns: 300 });
  }
});

test('random bytes after a valid command prefix never throw', () => {
  const prefixes = ['set k 0 0 ', 'ms k ', 'mg ', 'get ', 'gat ', 'incr k ', 'cas k 0 0 3 ', 'ma k '];
  fc.assert(fc.property(
    fc.constantFrom(...prefixes),
    fc.uint8Array({ maxLength: 200 }),
    fc.array(fc.constantFrom('\r\n', '\n', ' ', '0', '1', '9', 'b', 'v', 'q', 'N', 'T-'), { maxLength: 6 }),
    (prefix, junk, tail) => {
      const bytes = Buffer.concat([Buffer.from(prefix), Buffer.from(junk), Buffer.from(tail.join(''))]);
      checkShape(parseAll(bytes, OPTIONS[1]));
      checkShape(parseAll(bytes));
    },
  ), { numRuns: 500 });
});

test('binary junk inside a data block is data, not commands', () => {
  const junk = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const input = Buffer.concat([Buffer.from('set k 0 0 256\r\n'), junk, Buffer.from('\r\nmn\r\n')]);
  const r = parseAll(input);
  assert.is(r.length, 2);
  assert.is(r[0]!.kind, 'store');
  assert.equal(Buffer.from(r[0]!.value as string, 'latin1'), junk);
  assert.equal(r[1], { kind: 'mn' });
});

test('a huge stream of tiny chunks is parsed in linear time with bounded buffering', () => {
  // 200 KiB retrieval line fed a byte at a time: re-copying or re-scanning the buffer per
  // byte would take minutes.
  const keys = Array.from({ length: 1000 }, (_, i) => `k${i}`.padEnd(200, 'x'));
  const line = Buffer.from(`get ${keys.join(' ')}\r\n`);
  const p = new McParser();
  const started = process.hrtime.bigint();
  let maxBuffered = 0;
  let result = null;
  for (let i = 0; i < line.length; i++) {
    p.push(line.subarray(i, i + 1));
    maxBuffered = Math.max(maxBuffered, p.bufferedBytes);
    const r = p.next();
    if (r !== null) result = r;
  }
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(result !== null && result.kind === 'get' && result.keys.length === 1000);
  assert.ok(maxBuffered <= line.length);
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('a value fed in many chunks is assembled exactly', () => {
  const value = Buffer.alloc(300_000);
  for (let i = 0; i < value.length; i++) value[i] = (i * 31 + 7) & 0xff;
  const input = Buffer.concat([Buffer.from(`set big 0 0 ${value.length}\r\n`), value, Buffer.from('\r\n')]);
  const cuts: number[] = [];
  for (let at = 1; at < input.length; at += 1 + ((at * 7919) % 9000)) cuts.push(at);
  const [r] = parseChunks(input, cuts);
  assert.is(r!.kind, 'store');
  assert.ok(Buffer.from(r!.value as string, 'latin1').equals(value));
});

test.run();
