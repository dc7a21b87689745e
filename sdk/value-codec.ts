/** How values are turned into bytes and back. */
export interface ValueCodec<In, Out> {
  readonly name: string;
  encode(value: In): Uint8Array | string;
  decode(bytes: Uint8Array): Out;
}

/** Raw bytes; strings are stored as their UTF-8 bytes. */
export const bytesCodec: ValueCodec<Uint8Array | string, Uint8Array> = Object.freeze({
  name: 'bytes',
  encode(value: Uint8Array | string): Uint8Array | string {
    if (typeof value === 'string' || value instanceof Uint8Array) return value;
    throw KvError.invalidArgument('value must be a Uint8Array or a string');
  },
  decode: (bytes: Uint8Array): Uint8Array => bytes,
});

/** UTF-8 strings in, strings out. */
export const utf8Codec: ValueCodec<string, string> = Object.freeze({
  name: 'utf8',
  encode(value: string): string {
    if (typeof value !== 'string') throw KvError.invalidArgument('value must be a string');
    return value;
  },
  decode: (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
});

/** JSON documents. */
export const jsonCodec: ValueCodec<unknown, unknown> = Object.freeze({
  name: 'json',
  encode(value: unknown): string {
    const text = JSON.stringify(value);
    if (text === undefined) throw KvError.invalidArgument('value is not JSON-serialisable');
    return text;
  },
  decode: (bytes: Uint8Array): unknown => JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')),
});import { KvError } from '../shared/errors.js';

