import { suite } from '../helpers/suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { FRAME_HEADER_BYTES, FrameDecoder, encodeFrame } from '../../cluster/peer/frame-codec.js';
import { Kind, parseEnvelope, failFrame, helloFrame, messageFrame, replyFrame, requestFrame } from '../../cluster/peer/peer-envelope.js';
import { ErrorCode, type KvError } from '../../shared/errors.js';

const test = suite('cluster - peer framing');

const MAX = 1024;

function header(length: number): Buffer {
  const b = Buffer.alloc(FRAME_HEADER_BYTES);
  b.writeUInt32BE(length, 0);
  return b;
}

function thrown(fn: () => unknown): KvError {
  try {
    fn();
  } catch (err) {
    return err as KvError;
  }
  throw new Error('expected a throw');
}

test('a frame is a u32 big-endian length then exactly that much CBOR', () => {
  const frame = encodeFrame({ a: 1, b: 'x' }, MAX);
  assert.is(frame.readUInt32BE(0), frame.length - FRAME_HEADER_BYTES);
  assert.equal(new FrameDecoder(MAX).push(frame), [{ a: 1, b: 'x' }]);
});

test('frames split at every byte boundary and glued together decode in order', () => {
  const values = [messageFrame({ n: 1 }), requestFrame(7, [1, 2, 3]), replyFrame(7, Buffer.from('bytes')), helloFrame()];
  const stream = Buffer.concat(values.map((v) => encodeFrame(v, MAX)));
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder(MAX);
    const out = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    assert.equal(out.map((v) => JSON.stringify(v)), values.map((v) => JSON.stringify(v)), `cut at ${cut}`);
    assert.is(d.bufferedBytes, 0);
  }
  const d = new FrameDecoder(MAX);
  const out: unknown[] = [];
  for (const byte of stream) out.push(...d.push(Uint8Array.of(byte)));
  assert.is(out.length, values.length);
});

test('a truncated frame yields nothing and waits for the rest', () => {
  const frame = encodeFrame({ long: 'x'.repeat(100) }, MAX);
  const d = new FrameDecoder(MAX);
  assert.equal(d.push(frame.subarray(0, 2)), []);
  assert.equal(d.push(frame.subarray(2, frame.length - 1)), []);
  assert.is(d.bufferedBytes, frame.length - 1);
  assert.equal(d.push(frame.subarray(frame.length - 1)), [{ long: 'x'.repeat(100) }]);
});

test('an oversized frame is refused as soon as its header arrives, on both sides', () => {
  const d = new FrameDecoder(MAX);
  const err = thrown(() => d.push(header(MAX + 1)));
  assert.is(err.code, ErrorCode.TOO_LARGE);
  assert.is(thrown(() => d.push(encodeFrame(1, MAX))).code, ErrorCode.TOO_LARGE, 'the decoder stays failed');
  assert.is(thrown(() => encodeFrame('x'.repeat(MAX), MAX)).code, ErrorCode.TOO_LARGE);
  assert.is(thrown(() => new FrameDecoder(MAX).push(header(0xffffffff))).code, ErrorCode.TOO_LARGE);
});

test('a zero length, garbage CBOR, or trailing bytes inside a frame are protocol errors', () => {
  assert.is(thrown(() => new FrameDecoder(MAX).push(header(0))).code, ErrorCode.PROTOCOL);
  const garbage = Buffer.from([0xff, 0xff, 0xff]);
  assert.is(thrown(() => new FrameDecoder(MAX).push(Buffer.concat([header(garbage.length), garbage]))).code, ErrorCode.PROTOCOL);
  const body = Buffer.concat([encodeFrame(1, MAX).subarray(FRAME_HEADER_BYTES), Buffer.from([0x01])]);
  assert.is(thrown(() => new FrameDecoder(MAX).push(Buffer.concat([header(body.length), body]))).code, ErrorCode.PROTOCOL);
  const cut = Buffer.from([0x82, 0x01]); // array of 2 with one item
  assert.is(thrown(() => new FrameDecoder(MAX).push(Buffer.concat([header(cut.length), cut]))).code, ErrorCode.PROTOCOL);
});

test('random bytes never crash the decoder: they decode or fail with PROTOCOL or TOO_LARGE', () => {
  fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 8 }), (chunks) => {
    const d = new FrameDecoder(MAX);
    try {
      for (const c of chunks) d.push(c);
    } catch (err) {
      const code = (err as KvError).code;
      assert.ok(code === ErrorCode.PROTOCOL || code === ErrorCode.TOO_LARGE, String(err));
    }
  }), { numRuns: 2000 });
});

test('envelopes are validated by kind and shape', () => {
  assert.equal(parseEnvelope(helloFrame()), { kind: Kind.HELLO, version: 1 });
  assert.equal(parseEnvelope(requestFrame(3, { x: 1 })), { kind: Kind.REQUEST, id: 3, message: { x: 1 } });
  assert.equal(parseEnvelope(failFrame(3, ErrorCode.BUSY, 'later')), { kind: Kind.FAIL, id: 3, code: ErrorCode.BUSY, text: 'later' });
  assert.is((parseEnvelope([Kind.FAIL, 3, 'KV_ERR_FROM_THE_FUTURE', 'x']) as { code: string }).code, ErrorCode.INTERNAL);
  for (const bad of [null, 5, 'x', {}, [], [9, 1], [Kind.REQUEST, -1, 1], [Kind.REQUEST, 1.5, 1], [Kind.REPLY, 1], [Kind.HELLO, 'v'], [Kind.FAIL, 1, 'c']]) {
    assert.is(thrown(() => parseEnvelope(bad)).code, ErrorCode.PROTOCOL, JSON.stringify(bad));
  }
});

test.run();
