/**
 * Replica shares that the zone rule can actually honour. A domain (a zone, or a node
 * when there are no zones) can hold at most `units active elsewhere × min(copies − 1,
 * its nodes)` replicas; when its weighted share is larger, it is capped there and the
 * rest is spread over the other domains by weight (water-filling). Within a domain,
 * shares stay proportional to weight. Targets and caps then aim at what is attainable,
 * so that a new node in a crowded zone still gets its fair part of what that zone holds.
 */
import type { PlacementContext } from './context.js';

/**
 * Per node index, the replica share (sums to units × width). Equal to the weighted
 * quota whenever every domain has room for its share.
 */
export function attainableShares(ctx: PlacementContext, size: Int32Array, allowance: Int32Array): Float64Array {
  const { domains, placeable, weights, width } = ctx;
  const total = ctx.units * width;
  let activeUnits = 0;
  for (const s of size) activeUnits += s;
  const domainWeight = new Float64Array(domains.count);
  for (const i of placeable) domainWeight[domains.of[i]!]! += weights[i]!;
  const room = new Float64Array(domains.count);
  for (let d = 0; d < domains.count; d++) {
    room[d] = (activeUnits - size[d]!) * Math.min(width, domains.sizes[d]!) + size[d]! * allowance[d]!;
  }
  const share = new Float64Array(domains.count);
  const isCapped = new Uint8Array(domains.count);
  let left = total;
  for (;;) {
    let weight = 0;
    for (let d = 0; d < domains.count; d++) if (!isCapped[d]) weight += domainWeight[d]!;
    if (weight === 0) break;
    let isSettled = true;
    for (let d = 0; d < domains.count; d++) {
      if (isCapped[d] || (left * domainWeight[d]!) / weight <= room[d]! + 1e-9) continue;
      isCapped[d] = 1;
      share[d] = room[d]!;
      left -= room[d]!;
      isSettled = false;
    }
    if (!isSettled) continue;
    for (let d = 0; d < domains.count; d++) if (!isCapped[d]) share[d] = (left * domainWeight[d]!) / weight;
    break;
  }
  const out = new Float64Array(ctx.nodes.length);
  for (const i of placeable) {
    const d = domains.of[i]!;
    out[i] = domainWeight[d]! > 0 ? (share[d]! * weights[i]!) / domainWeight[d]! : 0;
  }
  return out;
}
