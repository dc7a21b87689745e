import { KvError } from '../shared/errors.js';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed, resumable scan cursors: `base64url(epoch ‖ lastKey) . base64url(hmac)`. The
 * cursor names only the last key returned, so it stays valid across a map change; the
 * signature stops a client from forging one. Proxies sharing the secret accept each
 * other's cursors.
 */
export class CursorSigner {
  private readonly secret: Buffer;

  constructor(secretHex: string | null) {
    this.secret = secretHex === null ? randomBytes(32) : Buffer.from(secretHex, 'hex');
    if (this.secret.length < 16) throw KvError.invalidArgument('cursor secret must be at least 16 bytes of hex');
  }

  sign(epoch: number, lastKey: string): string {
    const body = Buffer.concat([uint32(epoch), Buffer.from(lastKey, 'latin1')]);
    return `${body.toString('base64url')}.${this.mac(body).toString('base64url')}`;
  }

  /** The cursor's `{epoch, lastKey}`, or null when it is malformed or not ours. */
  verify(cursor: unknown): { epoch: number; lastKey: string } | null {
    if (typeof cursor !== 'string' || cursor.length > 1024) return null;
    const dot = cursor.indexOf('.');
    if (dot < 0) return null;
    const body = Buffer.from(cursor.slice(0, dot), 'base64url');
    const mac = Buffer.from(cursor.slice(dot + 1), 'base64url');
    const expected = this.mac(body);
    if (body.length < 5 || mac.length !== expected.length || !timingSafeEqual(mac, expected)) return null;
    return { epoch: body.readUInt32BE(0), lastKey: body.subarray(4).toString('latin1') };
  }

  private mac(body: Buffer): Buffer {
    return createHmac('sha256', this.secret).update('pandakv-scan-cursor-v1').update(body).digest();
  }
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}
