import { suite } from '../../../helpers/suite.js';
import * as assert from 'uvu/assert';
import { KvError } from '../../../../shared/errors.js';
import { MemoryBackend } from './memory-backend.js';
import { ExecSession, FailingBackend, principal } from './exec-helpers.js';

const test = suite('proxy memcached - executor, meta commands');

function cas(line: string): string {
  const m = / c(\d+)/.exec(line);
  assert.ok(m, `a cas token in ${JSON.stringify(line)}`);
  return m![1]!;
}

test('mg: EN on a miss, HD on a hit, VA with the value when asked', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('mg a v\r\n'), 'EN\r\n');
  assert.is(await s.send('ms a 3 F5\r\nabc\r\n'), 'HD\r\n');
  assert.is(await s.send('mg a\r\n'), 'HD\r\n');
  assert.is(await s.send('mg a v\r\n'), 'VA 3\r\nabc\r\n');
});

test('mg echoes the requested flags in request order', async () => {
  const s = new ExecSession(new MemoryBackend());
  await s.send('ms a 3 F5\r\nabc\r\n');
  const line = await s.send('mg a s v t c f k Oxy\r\n');
  assert.match(line, /^VA 3 s3 t-1 c\d+ f5 ka Oxy\r\nabc\r\n$/);
  assert.match(await s.send('mg a Oq1 k c\r\n'), /^HD Oq1 ka c\d+\r\n$/);
  assert.is(await s.send('mg nope k Oz v c f\r\n'), 'EN knope Oz\r\n', 'a miss echoes only key and opaque');
});

test('base64 keys are echoed in base64 with the b flag', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('ms AAEC/w== 1 b\r\nx\r\n'), 'HD\r\n');
  assert.is(await s.send('mg AAEC/w== b k v\r\n'), 'VA 1 kAAEC/w== b\r\nx\r\n');
  assert.is(await s.send('md AAEC/w== b k\r\nmg AAEC/w== b k\r\n'), 'HD kAAEC/w== b\r\nEN kAAEC/w== b\r\n');
});

test('quiet mode leaves out nominal answers and the mn marks the end of a quiet batch', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('mg a v q\r\nmg b v q\r\nmn\r\n'), 'MN\r\n', 'misses are silent');
  assert.is(await s.send('ms a 1 q\r\n1\r\nmn\r\n'), 'MN\r\n', 'a stored ms is silent');
  assert.is(await s.send('mg a v q\r\nmn\r\n'), 'VA 1\r\n1\r\nMN\r\n', 'hits are not');
  assert.is(await s.send('ms a 1 ME q\r\n2\r\n'), 'NS\r\n', 'failures are not');
  assert.is(await s.send('md a q\r\nmd a q\r\nmn\r\n'), 'NF\r\nMN\r\n', 'a delete is silent, a miss is not');
  assert.is(await s.send('ma n q\r\nma n N0 q\r\nma n q\r\nmn\r\n'), 'NF\r\nMN\r\n');
  assert.is(await s.send('ms x 1 q Mz\r\n1\r\nmn\r\n'), 'CLIENT_ERROR invalid mode for ms M token\r\nMN\r\n', 'errors are never quiet');
});

test('mg T touches, mg N vivifies once and reports the win', async () => {
  let now = 1_700_000_000_000;
  const s = new ExecSession(new MemoryBackend({ nowMs: () => now }), null, () => Math.floor(now / 1000));
  assert.is(await s.send('mg v N30 v t\r\n'), 'VA 0 t30 W\r\n\r\n');
  assert.is(await s.send('mg v N30 v\r\n'), 'VA 0\r\n\r\n', 'the second caller finds the placeholder');
  await s.send('ms a 1 T10\r\nx\r\n');
  assert.is(await s.send('mg a t\r\n'), 'HD t10\r\n');
  assert.is(await s.send('mg a T100 t\r\n'), 'HD t100\r\n');
  now += 20_000;
  assert.is(await s.send('mg a t v\r\n'), 'VA 1 t80\r\nx\r\n');
});

test('ms modes, compare-and-swap and the returned cas', async () => {
  const s = new ExecSession(new MemoryBackend());
  const first = await s.send('ms a 2 c k\r\nhi\r\n');
  assert.match(first, /^HD c\d+ ka\r\n$/);
  assert.is(await s.send('ms a 1 ME\r\nx\r\n'), 'NS\r\n');
  assert.is(await s.send('ms b 1 MR\r\nx\r\nms b 1 MA\r\nx\r\nms b 1 MP\r\nx\r\n'), 'NS\r\nNS\r\nNS\r\n');
  assert.is(await s.send('ms a 1 MA\r\n!\r\nms a 1 MP\r\n<\r\nmg a v\r\n'), 'HD\r\nHD\r\nVA 4\r\n<hi!\r\n');
  const now = cas(await s.send('mg a c\r\n'));
  assert.is(await s.send(`ms a 1 C${BigInt(now) + 1n}\r\nx\r\n`), 'EX\r\n');
  assert.is(await s.send('ms nope 1 C1\r\nx\r\n'), 'NF\r\n');
  assert.match(await s.send(`ms a 1 C${now} c I\r\ny\r\n`), /^HD c\d+\r\n$/);
  assert.is(await s.send('ms f 1 F42 S\r\nx\r\n'), 'CLIENT_ERROR invalid flag\r\n');
  assert.is(await s.send('ms f 1 F42 MS\r\nx\r\nmg f f\r\n'), 'HD\r\nHD f42\r\n');
});

test('md deletes, compares cas, and treats I as a delete', async () => {
  const s = new ExecSession(new MemoryBackend());
  await s.send('ms a 1\r\nx\r\nms b 1\r\nx\r\n');
  const c = cas(await s.send('mg a c\r\n'));
  assert.is(await s.send(`md a C${BigInt(c) + 1n} O1\r\n`), 'EX O1\r\n');
  assert.is(await s.send(`md a C${c} k\r\n`), 'HD ka\r\n');
  assert.is(await s.send('md a\r\n'), 'NF\r\n');
  assert.is(await s.send('md b I T30\r\nmg b\r\n'), 'HD\r\nEN\r\n');
});

test('ma increments, decrements, vivifies and returns value, cas and ttl', async () => {
  const s = new ExecSession(new MemoryBackend());
  assert.is(await s.send('ma n\r\n'), 'NF\r\n');
  assert.is(await s.send('ma n N0 J10 v\r\n'), 'VA 2\r\n10\r\n', 'vivified with the initial value, no delta');
  assert.is(await s.send('ma n v D5\r\n'), 'VA 2\r\n15\r\n');
  assert.is(await s.send('ma n MD D20 v\r\n'), 'VA 1\r\n0\r\n');
  assert.is(await s.send('ma n M+ v\r\nma n M- v\r\nma n MI\r\n'), 'VA 1\r\n1\r\nVA 1\r\n0\r\nHD\r\n');
  assert.match(await s.send('ma n t c k v\r\n'), /^VA 1 t-1 c\d+ kn\r\n2\r\n$/);
  assert.is(await s.send('ma n T60 t\r\nmg n t\r\n'), 'HD t60\r\nHD t60\r\n');
  assert.is(await s.send('ms s 1\r\nx\r\nma s\r\n'), 'HD\r\nCLIENT_ERROR cannot increment or decrement non-numeric value\r\n');
});

test('meta commands check roles and never hide errors', async () => {
  const backend = new MemoryBackend();
  const reader = new ExecSession(backend, principal('r', ['read']));
  assert.is(await reader.send('mg a v q\r\nmn\r\n'), 'MN\r\n');
  assert.is(await reader.send('ms a 1 q\r\nx\r\n'), 'CLIENT_ERROR unauthorized\r\n');
  assert.is(await reader.send('md a q\r\nma a q\r\nmg a T1 q\r\nmg a N1 q\r\n'), 'CLIENT_ERROR unauthorized\r\n'.repeat(4));
  const failing = new ExecSession(new FailingBackend(KvError.busy()));
  assert.is(await failing.send('mg a q\r\nms a 1 q\r\nx\r\n'), 'SERVER_ERROR temporary failure: KV_ERR_BUSY\r\n'.repeat(2));
});

test.run();
