import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { McSlot } from './slot.js';
import { ITEM_REPLY } from './item-reply.js';

/** Answers up to this many bytes in all are copied into one buffer and written at once; larger ones go out corked, uncopied. */
const MAX_JOINED_BYTES = 64 * 1024;

/**
 * Write the answers of `ready` (`bytes` in all) in order: one buffer when small, else each
 * chunk as it is (values uncopied) in one corked batch. `done` runs once the last is flushed.
 */
export function writeAnswers(socket: Socket, ready: readonly McSlot[], bytes: number, done: (() => void) | undefined): void {
  if (bytes <= MAX_JOINED_BYTES) {
    socket.write(joinAnswers(ready, bytes), done);
    return;
  }
  socket.cork();
  for (let s = 0; s < ready.length; s++) {
    const slot = ready[s]!;
    const chunks = slot.reply === ITEM_REPLY ? slot.itemChunks() : slot.reply!.chunks;
    const isLastSlot = s === ready.length - 1;
    for (let i = 0; i < chunks.length; i++) socket.write(chunks[i]!, isLastSlot && i === chunks.length - 1 ? done : undefined);
  }
  socket.uncork();
}

/** The answers of `ready` (`bytes` in all) in one buffer; a lone one-chunk answer as it is. */
function joinAnswers(ready: readonly McSlot[], bytes: number): Uint8Array {
  const first = ready[0]!;
  if (ready.length === 1 && first.reply !== ITEM_REPLY && first.reply!.chunks.length === 1) return first.reply!.chunks[0]!;
  const joined = Buffer.allocUnsafe(bytes);
  let at = 0;
  for (const slot of ready) {
    if (slot.reply === ITEM_REPLY) {
      at = slot.writeItem(joined, at);
      continue;
    }
    for (const c of slot.reply!.chunks) {
      joined.set(c, at);
      at += c.length;
    }
  }
  return joined;
}
