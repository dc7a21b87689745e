import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { defaultMetaFlags } from '../../../../proxy/memcached/meta-flags.js';
import { metaStoreMode } from '../../../../proxy/memcached/line-parser.js';
import type { McMetaFlags, McParseResult } from '../../../../proxy/memcached/commands.js';
import { err, parseAll, plain } from './parse-helpers.js';

const test = suite('proxy memcached - parser, meta commands');

/** Default meta flags with `overrides`, as plain data. */
function flags(overrides: Partial<McMetaFlags> = {}): unknown {
  const { kind: _kind, ...rest } = plain({ kind: 'mn', ...defaultMetaFlags(), ...overrides } as unknown as McParseResult);
  return rest;
}

/** The flags of a parsed meta command, as plain data. */
function flagsOf(line: string): unknown {
  const [r] = parseAll(line);
  assert.ok(r !== undefined && 'flags' in r, `${JSON.stringify(line)} parses to a meta command, got ${JSON.stringify(r)}`);
  return r!.flags;
}

test('mg takes its key and no flags', () => {
  assert.equal(parseAll('mg foo\r\n'), [{ kind: 'mg', key: 'foo', flags: flags() }]);
  assert.equal(parseAll('mg\r\n'), [err('ERROR')]);
});

test('mg return flags are kept in request order and value flags are parsed', () => {
  assert.equal(flagsOf('mg foo s v t c f k Oabc q T30 N60 u\r\n'), flags({
    returned: 'stcfkO', hasValue: true, opaque: 'abc', isQuiet: true, ttl: 30, vivifyTtl: 60,
  }));
  assert.equal(flagsOf('mg foo k O1 c\r\n'), flags({ returned: 'kOc', opaque: '1' }));
  assert.equal(flagsOf('mg foo T-1\r\n'), flags({ ttl: -1 }));
});

test('meta flag errors give memcached\'s exact client errors', () => {
  assert.equal(parseAll('mg foo v v\r\n'), [err('CLIENT_ERROR duplicate flag')]);
  assert.equal(parseAll('mg foo h\r\n'), [err('CLIENT_ERROR invalid flag')], 'known to memcached but not served');
  assert.equal(parseAll('mg foo !\r\n'), [err('CLIENT_ERROR invalid flag')]);
  assert.equal(parseAll('mg foo \xff\r\n'), [err('CLIENT_ERROR invalid flag')]);
  assert.equal(parseAll('mg foo T\r\n'), [err('CLIENT_ERROR bad token in command line format')]);
  assert.equal(parseAll('mg foo Tx\r\n'), [err('CLIENT_ERROR bad token in command line format')]);
  assert.equal(parseAll('mg foo N1.5\r\n'), [err('CLIENT_ERROR bad token in command line format')]);
  assert.equal(parseAll(`mg foo O${'x'.repeat(32)}\r\n`), [err('CLIENT_ERROR opaque token too long')]);
  assert.equal(flagsOf(`mg foo O${'x'.repeat(31)}\r\n`), flags({ returned: 'O', opaque: 'x'.repeat(31) }));
  assert.equal(parseAll(`mg foo ${'k '.repeat(18)}\r\n`), [err('CLIENT_ERROR options flags are too long')]);
  assert.equal(parseAll(`md foo ${'k '.repeat(18)}\r\n`), [err('CLIENT_ERROR options flags too long')]);
  assert.equal(parseAll(`mg ${'k'.repeat(251)} v\r\n`), [err('CLIENT_ERROR bad command line format')]);
  assert.equal(parseAll('mg a\x01b v\r\n'), [err('CLIENT_ERROR bad command line format')]);
});

test('base64 keys are decoded strictly', () => {
  assert.equal(parseAll('mg Zm9v b v\r\n')[0]!.key, 'foo');
  assert.equal(parseAll('mg AAEC/w== b\r\n')[0]!.key, '\x00\x01\x02\xff', 'binary keys are allowed through base64');
  assert.equal(parseAll('mg Zm9v! b\r\n'), [err('CLIENT_ERROR error decoding key')]);
  assert.equal(parseAll('mg Zm9 b\r\n'), [err('CLIENT_ERROR error decoding key')], 'length must be a multiple of 4');
  assert.equal(parseAll('mg Zm9w b\r\n')[0]!.key, 'fop');
  assert.equal(parseAll('mg YR== b\r\n'), [err('CLIENT_ERROR error decoding key')], 'non-canonical padding bits');
  assert.equal(parseAll('mg ==== b\r\n'), [err('CLIENT_ERROR error decoding key')]);
});

test('ms carries its data block and flags', () => {
  const [set] = parseAll('ms a2V5 3 T10 F5 MA C9 I c k q Oop b\r\nabc\r\n');
  assert.equal(set, {
    kind: 'ms', key: 'key', value: 'abc',
    flags: flags({ ttl: 10, clientFlags: 5, mode: 'A', compareCas: 9n, isInvalidate: true, returned: 'ckO', isQuiet: true, opaque: 'op', isBase64Key: true }),
  });
  assert.equal(parseAll('ms k 0\r\n\r\n'), [{ kind: 'ms', key: 'k', value: '', flags: flags() }]);
});

test('ms errors skip the data block and the stream goes on', () => {
  const next = { kind: 'mn' };
  assert.equal(parseAll('ms k 2 MX\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR invalid mode for ms M token'), next]);
  assert.equal(parseAll('ms k 2 MSS\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR incorrect length for M token'), next]);
  assert.equal(parseAll('ms k 2 Fx\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('ms k 2 v\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR invalid flag'), next]);
  assert.equal(parseAll(`ms ${'k'.repeat(251)} 2\r\nab\r\nmn\r\n`), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('ms !!!! 2 b\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR error decoding key'), next]);
  // The block takes five bytes ("ab\r\nm") and two more ("n\r"); the lone "\n" left is an empty line.
  assert.equal(parseAll('ms k 5\r\nab\r\nmn\r\n'), [err('CLIENT_ERROR bad data chunk'), err('ERROR')]);
  assert.equal(parseAll('ms k 2 q\r\nabXY'), [err('CLIENT_ERROR bad data chunk')], 'quiet never hides errors');
  assert.equal(parseAll('ms k\r\nmn\r\n'), [err('CLIENT_ERROR bad command line format'), next]);
  assert.equal(parseAll('ms k x\r\nmn\r\n'), [err('CLIENT_ERROR bad command line format', true)]);
  assert.equal(parseAll('ms k 2000000\r\n'), [err('SERVER_ERROR object too large for cache')]);
});

test('md and ma flags', () => {
  assert.equal(flagsOf('md k C5 I q T30 k O1\r\n'), flags({ compareCas: 5n, isInvalidate: true, isQuiet: true, ttl: 30, returned: 'kO', opaque: '1' }));
  assert.equal(parseAll('md k v\r\n'), [err('CLIENT_ERROR invalid flag')]);
  assert.equal(flagsOf('ma k N0 J10 D5 MD T9 v t c\r\n'), flags({ vivifyTtl: 0, initial: 10n, delta: 5n, mode: 'D', ttl: 9, hasValue: true, returned: 'tc' }));
  assert.equal(flagsOf('ma k M-\r\n'), flags({ mode: '-' }));
  assert.equal(flagsOf('ma k M+\r\n'), flags({ mode: '+' }));
  assert.equal(parseAll('ma k MX\r\n'), [err('CLIENT_ERROR invalid mode for ma M token')]);
  assert.equal(parseAll('ma k Dx\r\n'), [err('CLIENT_ERROR invalid numeric delta value')]);
  assert.equal(parseAll('ma k J18446744073709551616\r\n'), [err('CLIENT_ERROR invalid numeric initial value')]);
  assert.equal(parseAll('ma k C1\r\n'), [err('CLIENT_ERROR invalid flag')], 'compare-and-swap arithmetic is not served');
  assert.equal(parseAll('mn\r\nmn extra\r\n'), [{ kind: 'mn' }, { kind: 'mn' }]);
});

test('ms modes map to store modes, and C turns set and replace into cas', () => {
  assert.is(metaStoreMode(null, false), 'set');
  assert.is(metaStoreMode('S', false), 'set');
  assert.is(metaStoreMode('E', false), 'add');
  assert.is(metaStoreMode('A', false), 'append');
  assert.is(metaStoreMode('P', false), 'prepend');
  assert.is(metaStoreMode('R', false), 'replace');
  assert.is(metaStoreMode(null, true), 'cas');
  assert.is(metaStoreMode('R', true), 'cas');
  assert.is(metaStoreMode('E', true), 'add');
  assert.is(metaStoreMode('A', true), 'append');
});

test.run();
