import { Status } from '../shared/status.js';
import { ErrorCode, KvError } from '../shared/errors.js';
import { answerFrame, errorAnswer, extraAnswer, type Request } from '../shared/protocol/frames.js';
import { binaryToWire, bytesToBinary } from '../shared/protocol/binary-key.js';
import { ScanIterator, type ScanHost } from '../sdk/scan.js';
import type { Upstream } from './upstream.js';
import type { CursorSigner } from './scan-cursor.js';

/** The exact scan's view of the proxy's upstream: its adopted map and its lanes. */
export function upstreamScanHost(upstream: Upstream, timeoutMs: number): ScanHost<Uint8Array> {
  return {
    currentMap: () => upstream.current(),
    refreshMap: (minEpoch, deadline) => upstream.refresh(minEpoch, deadline),
    request: (address, frame, deadline) => upstream.pool.get(address).request(frame, deadline, 0),
    decode: (bytes) => bytes,
    backoffMs: [1, 10, 50, 100, 250, 500],
    timeoutMs,
  };
}

/**
 * Range scans for thin clients: one page per SCAN frame, read with the SDK's exact scan
 * (every active owner at a stated epoch, k-way merge, ranges that move re-read from their
 * new owner after the last key returned), so a page that spans a map change has no gap.
 * A page ends at the limit; the signed cursor names only its last key, so it stays valid
 * across map changes. When the page cannot stay exact within the deadline, the entries
 * read so far are returned with a cursor after the last of them (a short page), or, with
 * none, SCAN_INTERRUPTED with the cursor to send again.
 */
export class ScanService {
  /** @param host the upstream's map and lanes (`upstreamScanHost`); its `timeoutMs` bounds each page */
  constructor(private readonly host: ScanHost<Uint8Array>, private readonly cursors: CursorSigner) {}

  /** Answer one SCAN frame. `cursor` (extra.cursor) takes precedence over the start key. */
  async scan(req: Request, cursor: unknown): Promise<unknown[]> {
    let start = req.key === '' ? '\0' : req.key;
    if (cursor !== undefined && cursor !== null) {
      const c = this.cursors.verify(cursor);
      if (c === null) return errorAnswer(req.id, Status.BAD_REQUEST, 'invalid scan cursor');
      start = `${c.lastKey}\0`;
    }
    const it = new ScanIterator<Uint8Array>({
      start: Buffer.from(start, 'latin1'),
      end: req.end === null ? undefined : Buffer.from(req.end, 'latin1'),
      limit: req.limit,
      pageSize: Math.min(req.limit, 256),
    }, this.host);
    const flat: unknown[] = [];
    let last: string | null = null;
    let count = 0;
    let interrupted: KvError | null = null;
    for (;;) {
      let r: IteratorResult<{ keyBytes: Uint8Array; value: Uint8Array; flags: number; cas: bigint }>;
      try {
        r = await it.next();
      } catch (err) {
        if (!(err instanceof KvError) || err.code !== ErrorCode.SCAN_INTERRUPTED) throw err;
        interrupted = err;
        break;
      }
      if (r.done === true) break;
      last = bytesToBinary(r.value.keyBytes);
      flat.push(binaryToWire(last), r.value.value, r.value.flags, Number(r.value.cas));
      count++;
    }
    const epoch = this.host.currentMap()?.epoch ?? 0;
    if (interrupted !== null && last === null) {
      // Nothing read: the same request (same cursor) resumes exactly.
      return extraAnswer(req.id, Status.SCAN_INTERRUPTED, {
        message: interrupted.message,
        next: binaryToWire(start),
        cursor: cursor === undefined || cursor === null ? null : cursor,
      });
    }
    const isMore = (interrupted !== null || count >= req.limit) && last !== null;
    return answerFrame(req.id, Status.OK, flat, 0, 0, {
      next: isMore ? binaryToWire(`${last}\0`) : null,
      cursor: isMore ? this.cursors.sign(epoch, last!) : null,
    });
  }
}
