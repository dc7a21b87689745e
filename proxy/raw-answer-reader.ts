import { KvError } from '../shared/errors.js';
import { errorFromAnswer } from '../shared/protocol/frames.js';
import { ANSWER_STRIDE, AnswerField as A, decodeAnswerFrame, scanAnswers, scannedAnswers } from '../shared/protocol/raw-frames.js';
import type { AnswerReader, AnswerSink } from '../sdk/lane-contract.js';

/**
 * How the proxy's lanes read answers: as bytes, without decoding values. A forwarded
 * (raw) request gets its answer's status and encoded fields, to go back to the client
 * as the node encoded them; any other request gets its frame decoded on its own. A
 * message the byte reader does not take is left to the lane's decoder, which judges it.
 *
 * @param onActivity called as each message from a node arrives, before it is read (the idle poller)
 */
export function rawAnswerReader(onActivity: (() => void) | null): AnswerReader {
  return (data, sink) => {
    onActivity?.();
    return readRawAnswers(data, sink);
  };
}

function readRawAnswers(data: Uint8Array, sink: AnswerSink): boolean {
  const count = scanAnswers(data);
  if (count < 0) return false;
  const a = scannedAnswers();
  for (let i = 0, base = 0; i < count; i++, base += ANSWER_STRIDE) {
    const id = a[base + A.ID]!;
    if (id === 0) {
      const r = decodeAnswerFrame(data, a[base + A.FRAME_START]!, a[base + A.FRAME_END]!);
      sink.fail(errorFromAnswer({ status: a[base + A.STATUS]!, extra: r?.extra ?? null }, { node: sink.address }));
      return true;
    }
    const req = sink.take(id);
    if (req === undefined) continue; // answer to a request that already timed out
    if (req.raw !== null) {
      req.onRawAnswer(a[base + A.STATUS]!, a[base + A.FIELD_COUNT]!, data.subarray(a[base + A.FIELDS_START]!, a[base + A.FRAME_END]!));
      continue;
    }
    const r = decodeAnswerFrame(data, a[base + A.FRAME_START]!, a[base + A.FRAME_END]!);
    if (r === null) {
      req.onError(KvError.protocol(`malformed response from ${sink.address}`));
      sink.fail(KvError.protocol(`malformed response from ${sink.address}`));
      return true;
    }
    req.onAnswer(r);
  }
  return true;
}
