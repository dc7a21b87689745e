/**
 * The backfill's peer messages as they arrive: `pull` (a page of a snapshot, or a delta)
 * and `vals` (current values for a rollback), and the answer to a pull. Every field is
 * checked where it is read (backfill.ts).
 */

export interface PullRequest {
  units?: unknown;
  /** Where the last page ended: the `next` of its answer, sent back as it came. */
  after?: unknown;
  /** The `order` of that answer: 'bucket' when `after` is a place in the bucket index. */
  order?: unknown;
  limit?: unknown;
  /**
   * `[unit, seqno, fingerprint of the record at that seqno, earlier points?]` per unit the
   * requester has history for; earlier points are `[seqno, fingerprint]`, newest first.
   */
  since?: unknown;
}

export interface ValuesRequest {
  /** Keys, as bytes. */
  keys?: unknown;
}

export interface PullResponse {
  items?: unknown;
  next?: unknown;
  order?: unknown;
  seqs?: unknown;
  /** Records after the offered seqnos, for `deltaUnits`. */
  delta?: unknown;
  deltaUnits?: unknown;
  /** `[unit, seqno]`: delta units whose records start after an earlier offered point, not the last one. */
  rewound?: unknown;
}
