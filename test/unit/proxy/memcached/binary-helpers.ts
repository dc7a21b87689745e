import { BinOp } from '../../../../proxy/memcached/binary-protocol.js';
import type { RawClient } from './raw-client.js';

export { BinOp };

/** Parts of a binary request; absent parts are empty / zero. */
export interface ReqParts {
  opaque?: number;
  cas?: bigint;
  extras?: Uint8Array;
  key?: string | Uint8Array;
  value?: string | Uint8Array;
  dataType?: number;
  magic?: number;
}

const bytes = (v: string | Uint8Array | undefined): Buffer => (v === undefined ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v));

/** One binary request frame. */
export function req(opcode: number, p: ReqParts = {}): Buffer {
  const extras = bytes(p.extras);
  const key = bytes(p.key);
  const value = bytes(p.value);
  const h = Buffer.alloc(24);
  h[0] = p.magic ?? 0x80;
  h[1] = opcode;
  h.writeUInt16BE(key.length, 2);
  h[4] = extras.length;
  h[5] = p.dataType ?? 0;
  h.writeUInt32BE(extras.length + key.length + value.length, 8);
  h.writeUInt32BE(p.opaque ?? 0, 12);
  h.writeBigUInt64BE(p.cas ?? 0n, 16);
  return Buffer.concat([h, extras, key, value]);
}

/** Extras of set/add/replace: flags and expiration. */
export function storeExtras(flags: number, ttl: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32BE(flags, 0);
  b.writeInt32BE(ttl, 4);
  return b;
}

/** Extras of increment/decrement. */
export function counterExtras(delta: bigint, initial: bigint, expiration: number): Buffer {
  const b = Buffer.alloc(20);
  b.writeBigUInt64BE(delta, 0);
  b.writeBigUInt64BE(initial, 8);
  b.writeUInt32BE(expiration >>> 0, 16);
  return b;
}

/** A 4-byte big-endian number (touch/gat/flush/verbosity extras). */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/** A parsed response packet. */
export interface Res {
  magic: number;
  opcode: number;
  status: number;
  opaque: number;
  cas: bigint;
  extras: Buffer;
  key: string;
  value: Buffer;
}

/** Split a buffer into the response packets it holds (complete ones only). */
export function parseResponses(buf: Buffer): Res[] {
  const out: Res[] = [];
  let at = 0;
  while (buf.length - at >= 24) {
    const keyLen = buf.readUInt16BE(at + 2);
    const extLen = buf[at + 4]!;
    const bodyLen = buf.readUInt32BE(at + 8);
    if (buf.length - at < 24 + bodyLen) break;
    const body = buf.subarray(at + 24, at + 24 + bodyLen);
    out.push({
      magic: buf[at]!, opcode: buf[at + 1]!, status: buf.readUInt16BE(at + 6), opaque: buf.readUInt32BE(at + 12),
      cas: buf.readBigUInt64BE(at + 16), extras: body.subarray(0, extLen), key: body.subarray(extLen, extLen + keyLen).toString('latin1'),
      value: body.subarray(extLen + keyLen),
    });
    at += 24 + bodyLen;
  }
  return out;
}

/** Read one response packet from a raw client. */
export async function readResponse(c: RawClient, ms = 5000): Promise<Res> {
  const header = await c.readBytes(24, ms);
  const body = await c.readBytes(header.readUInt32BE(8), ms);
  return parseResponses(Buffer.concat([header, body]))[0]!;
}

/** SASL PLAIN message. */
export function plain(user: string, password: string, authzid = ''): Buffer {
  return Buffer.from(`${authzid}\0${user}\0${password}`, 'utf8');
}
