import { snakeKeys } from '../../shared/snake-case.js';
import { Status } from '../../shared/status.js';
import { Op, isBackupOp, isMutation } from '../../shared/protocol/ops.js';
import { KvError, statusFromError } from '../../shared/errors.js';
import type { Replicator } from './replication/replicator.js';
import {
  casAnswer, errorAnswer, extraAnswer, isPersistLevel, itemAnswer, statusAnswer, valueAnswer, type Request,
} from '../../shared/protocol/frames.js';
import { WRITE_LEFT_NO_ITEM, type KvEngine, type StoreResult } from './engine/types.js';
import type { WriteHint, WrittenItem } from './write-hint.js';
import { bucketOfBinary } from '../../shared/keystream.js';
import type { Ownership } from './ownership.js';
import { runScan } from './scan-op.js';
import { runBackupOp, type BackupHost } from './backup-op.js';

/** A response frame as it goes on the wire: `[id, status, value?, cas?, flags?, extra?]`. */
export type ResponseFrame = unknown[];

/**
 * Longest a request carrying a newer epoch than the node's waits for the node to adopt
 * that map (it is being pushed to both) before it is answered NOT_MY_BUCKET.
 */
export const EPOCH_WAIT_MS = 250;

/** Source of the node-level stats the STATS op reports next to the engine's. */
export interface StatsSource {
  nodeStats(): Record<string, number | string>;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function counterToWire(v: bigint): number | bigint {
  return v <= MAX_SAFE ? Number(v) : v;
}

/**
 * Executes validated requests against the engine. Synchronous: a whole message is
 * executed in order and answered in one response message.
 */
export class Executor {
  constructor(
    private readonly engine: KvEngine,
    private readonly ownership: Ownership,
    private readonly stats: StatsSource,
  ) {}

  /** Set when the node replicates: writes on an active unit are streamed to its replicas. */
  replicator: Replicator | null = null;

  /** What the backup ops read (backup-op.ts); null answers them UNAVAILABLE. */
  backupHost: BackupHost | null = null;

  /** Replica reads sent on to the active because this node's copy was not whole. */
  replicaRedirects = 0;

  /** Execute `req` once `wait` ends (a newer map arrived, or its unit was handed over; or the wait ran out), once only. */
  private afterWait(wait: Promise<void>, req: Request): Promise<ResponseFrame> {
    return wait.then(() => this.execute(req, true)).catch((err: unknown) => errorAnswer(req.id, Status.INTERNAL, err instanceof Error ? err.message : 'internal error'));
  }

  /**
   * Execute one request. A write whose durability must wait for replicas answers with a
   * promise; everything else answers at once.
   */
  execute(req: Request, hasWaited = false): ResponseFrame | Promise<ResponseFrame> {
    // The client already has the next map and this node not yet: wait for it rather than
    // bounce the request (the client would back off before trying again).
    if (!hasWaited && req.epoch > this.ownership.epoch) {
      const wait = this.ownership.whenEpoch(req.epoch, EPOCH_WAIT_MS);
      if (wait !== null) return this.afterWait(wait, req);
    }
    // The key's unit is this node's since the last map, and its previous active has not
    // handed it over yet (replication/takeover.ts): wait for it rather than bounce the request.
    if (!hasWaited && req.key !== '' && req.epoch === this.ownership.epoch) {
      const wait = this.ownership.whenServed(req.key, EPOCH_WAIT_MS);
      if (wait !== null) return this.afterWait(wait, req);
    }
    const rep = this.replicator;
    const isWrite = isMutation(req.op) && req.key !== '';
    const isPersist = isPersistLevel(req.durability) && isMutation(req.op);
    // Refused before it runs: a memory node cannot make the write durable.
    if (isPersist && !this.engine.isDurable) {
      const err = KvError.durabilityImpossible(`durability "${req.durability}" needs a disk engine; this node runs the memory engine`);
      return errorAnswer(req.id, statusFromError(err), err.message);
    }
    // A durability that cannot be met is refused before the write runs, never downgraded.
    if (isWrite && (req.durability === 'majority' || req.durability === 'persistMajority') && this.ownership.isServing() && this.ownership.ownsKey(req.key) && req.epoch === this.ownership.epoch) {
      const refusal = rep === null ? this.withoutReplication(req.key) : rep.checkDurability(req.key, 'majority');
      if (refusal !== null) return errorAnswer(req.id, Status.DURABILITY_IMPOSSIBLE, refusal);
    }
    const frame = this.run(req);
    if (frame[1] !== Status.OK || !isWrite) return frame;
    const replicated = rep === null ? null : rep.onWrite(req.key, req.durability, this.writeHint(req));
    // persist: this node's group commit holding the write is fsync'd; persistMajority also
    // waits for a majority of the chain to report it on disk (replication).
    const wait = isPersist
      ? (replicated === null ? this.engine.whenDurable() : Promise.all([this.engine.whenDurable(), replicated]).then(noop))
      : replicated;
    return wait === null ? frame : wait.then(() => this.confirm(req, frame), (err: KvError) => errorAnswer(req.id, statusFromError(err), err.message));
  }

  /**
   * A write whose replicas acknowledged is confirmed only while the node still holds its
   * lease: after the lease ran out a replica may already be taking over, and the write's
   * fate is the new active's to decide.
   */
  private confirm(req: Request, frame: ResponseFrame): ResponseFrame {
    if (this.ownership.isServing()) return frame;
    return errorAnswer(req.id, Status.UNAVAILABLE, 'the node lost its lease before the write was confirmed; it may or may not have been applied');
  }

  /** Why `majority` cannot be met for `key` on a node that does not replicate; null when one copy is a majority. */
  private withoutReplication(key: string): string | null {
    const copies = this.ownership.copiesOf(key);
    return copies < 2 ? null : `majority needs ${Math.floor(copies / 2)} replica(s) but this node does not replicate (no peer plane)`;
  }

  /**
   * What `run` learnt about the last write, for the replicator: the key's bucket (hashed
   * once) and the store's outcome. `run` is synchronous, so these are read right after it.
   */
  private lastBucket = -1;
  private lastStore: StoreResult | null = null;

  /** The bucket and item of the write `run` just did, as far as it knows them. */
  private writeHint(req: Request): WriteHint {
    const bits = this.ownership.bits;
    const store = this.lastStore;
    let item: WrittenItem | null | undefined;
    if (req.op === Op.DELETE) item = null;
    else if (store === null || store.expAt === undefined || req.value === null) item = undefined;
    else if (store.expAt === WRITE_LEFT_NO_ITEM) item = null;
    // A copy: the request's value is a view into the message, which the change log must not pin.
    else item = { value: Uint8Array.prototype.slice.call(req.value), flags: req.flags, expAt: store.expAt };
    return { bucket: this.lastBucket, bits, item };
  }

  private run(req: Request): ResponseFrame {
    const { id } = req;
    const own = this.ownership;
    this.lastBucket = -1;
    this.lastStore = null;
    // Backup ops name units, not a key: they check epoch, lease and ownership themselves.
    if (isBackupOp(req.op)) {
      return this.backupHost === null ? errorAnswer(id, Status.UNAVAILABLE, 'this node serves no backup') : runBackupOp(req, this.engine, this.backupHost);
    }
    // Without a lease the node cannot know it still owns anything: it executes nothing.
    if ((req.key !== '' || req.op === Op.SCAN) && !own.isServing()) return extraAnswer(id, Status.NOT_MY_BUCKET, { epoch: own.epoch });
    if (req.isReplicaRead && req.op === Op.GET) {
      if (req.epoch !== own.epoch || !own.holdsKey(req.key)) return extraAnswer(id, Status.NOT_MY_BUCKET, { epoch: own.epoch });
      // A copy being filled, rolled back or verified may lack keys the active has: the
      // reader is sent to the active instead of being told "not found".
      if (this.replicator !== null && !own.ownsKey(req.key) && !this.replicator.isCopyWhole(req.key)) {
        this.replicaRedirects++;
        return extraAnswer(id, Status.NOT_MY_BUCKET, { epoch: own.epoch, copy: 'incomplete' });
      }
    } else if (req.epoch !== own.epoch) {
      return extraAnswer(id, Status.NOT_MY_BUCKET, { epoch: own.epoch });
    } else if (req.key !== '' && req.op !== Op.SCAN && !own.ownsEverything) {
      // Hashed once here; the replicator reuses the bucket.
      this.lastBucket = bucketOfBinary(req.key, own.bits);
      if (!own.ownsBucket(this.lastBucket)) return extraAnswer(id, Status.NOT_MY_BUCKET, { epoch: own.epoch });
    }
    const engine = this.engine;
    switch (req.op) {
      case Op.GET: {
        const item = engine.get(req.key);
        return item === null ? statusAnswer(id, Status.NOT_FOUND) : itemAnswer(id, item.value, item.cas, item.flags);
      }
      case Op.GAT: {
        const item = engine.getAndTouch(req.key, req.exptime);
        return item === null ? statusAnswer(id, Status.NOT_FOUND) : itemAnswer(id, item.value, item.cas, item.flags);
      }
      case Op.SET:
        return stored(id, this.lastStore = engine.set(req.key, req.value!, req.flags, req.exptime, req.cas));
      case Op.ADD:
        return stored(id, this.lastStore = engine.add(req.key, req.value!, req.flags, req.exptime));
      case Op.REPLACE:
        return stored(id, this.lastStore = engine.replace(req.key, req.value!, req.flags, req.exptime, req.cas));
      case Op.APPEND:
        return stored(id, engine.append(req.key, req.value!, req.cas));
      case Op.PREPEND:
        return stored(id, engine.prepend(req.key, req.value!, req.cas));
      case Op.DELETE:
        return statusAnswer(id, engine.delete(req.key, req.cas));
      case Op.INCR:
      case Op.DECR: {
        const r = req.op === Op.INCR
          ? engine.incr(req.key, req.delta, req.initial, req.exptime)
          : engine.decr(req.key, req.delta, req.initial, req.exptime);
        if (r.status === Status.OK) return valueAnswer(id, counterToWire(r.value), r.cas);
        return r.status === Status.BAD_REQUEST
          ? errorAnswer(id, r.status, 'value is not a decimal unsigned 64-bit number')
          : statusAnswer(id, r.status);
      }
      case Op.TOUCH:
        return statusAnswer(id, engine.touch(req.key, req.exptime));
      case Op.SCAN:
        return runScan(req, this.engine, own);
      case Op.STATS:
        // Keys in snake_case, as memcached's and Prometheus's are.
        return valueAnswer(id, snakeKeys({ ...engine.stats(), ...this.stats.nodeStats() }));
      case Op.PING:
        return extraAnswer(id, Status.OK, { epoch: own.epoch });
      default:
        return errorAnswer(id, Status.BAD_REQUEST, 'unsupported op');
    }
  }
}

function noop(): void {}

function stored(id: number, r: { status: number; cas: number }): ResponseFrame {
  return r.status === Status.OK ? casAnswer(id, r.cas) : statusAnswer(id, r.status);
}
