import { Status } from '../shared/status.js';
import type { Request } from '../shared/protocol/frames.js';
import { binaryToWire, bytesToBinary } from '../shared/protocol/binary-key.js';
import { ScanIterator } from '../sdk/scan.js';
import type { Upstream } from './upstream.js';
import type { CursorSigner } from './scan-cursor.js';

/**
 * Range scans for thin clients: scatter to every active owner, merge in key order (the
 * SDK's k-way merge), stop at the limit, and hand back a signed cursor to resume from.
 * Each node is asked for its next page only when the merge needs it.
 */
export class ScanService {
  constructor(private readonly upstream: Upstream, private readonly cursors: CursorSigner, private readonly timeoutMs: number) {}

  /** Answer one SCAN frame. `cursor` (extra.cursor) takes precedence over the start key. */
  async scan(req: Request, cursor: unknown): Promise<unknown[]> {
    let start = req.key === '' ? '\0' : req.key;
    if (cursor !== undefined && cursor !== null) {
      const c = this.cursors.verify(cursor);
      if (c === null) return [req.id, Status.BAD_REQUEST, null, 0, 0, { message: 'invalid scan cursor' }];
      start = `${c.lastKey}\0`;
    }
    const router = this.upstream.dispatcher.currentRouter();
    const it = new ScanIterator<Uint8Array>(router.activeNodes(), {
      start: Buffer.from(start, 'latin1'),
      end: req.end === null ? undefined : Buffer.from(req.end, 'latin1'),
      limit: req.limit,
      pageSize: Math.min(req.limit, 256),
    }, {
      send: (frame, address, deadline) => this.upstream.dispatcher.send(frame, { key: null, address, isIdempotent: true, valueBytes: 0 }, deadline),
      decode: (bytes) => bytes,
      timeoutMs: this.timeoutMs,
    });
    const flat: unknown[] = [];
    let last: string | null = null;
    let count = 0;
    for (;;) {
      const r = await it.next();
      if (r.done === true) break;
      last = bytesToBinary(r.value.keyBytes);
      flat.push(binaryToWire(last), r.value.value, r.value.flags, Number(r.value.cas));
      count++;
    }
    const isMore = count >= req.limit && last !== null;
    const epoch = router.map.epoch;
    return [req.id, Status.OK, flat, 0, 0, {
      next: isMore ? binaryToWire(`${last}\0`) : null,
      cursor: isMore ? this.cursors.sign(epoch, last!) : null,
    }];
  }
}
