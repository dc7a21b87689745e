/**
 * Turning per-(group, node) replica targets into per-unit copies. Within a group, a
 * node with too many copies hands one straight to a node with too few, on a unit that
 * can take it (one move each); empty slots are then filled in unit order with one
 * cursor per slot, so runs stay long. Where no target fits a unit, copies are traded
 * with another changing unit of the group, and only as a last resort placed beyond the
 * targets, on the least loaded node allowed.
 */
import type { PlacementContext } from './context.js';

export interface RealizeInput {
  ctx: PlacementContext;
  active: Int32Array;
  /** Replica slots (`u * width + k`), kept copies filled in, -1 = empty. Updated in place. */
  rep: Int32Array;
  /** Copies to remove per (group, node) `[g * nodeCount + n]`. */
  excess: Int32Array;
  /** Copies to add per (group, node). */
  add: Int32Array;
  /** Units whose chain changes anyway: they give up copies first. Updated in place. */
  dirty: Uint8Array;
  /** Replica quota per node, for the last-resort placement. */
  quota: Float64Array;
  /** Replicas per unit allowed in the active's own domain, per group. */
  allowance: Int32Array;
}

export interface RealizeStats {
  swaps: number;
  overflows: number;
}

class Realizer {
  private readonly ctx: PlacementContext;
  private readonly n: number;
  private readonly w: number;
  private readonly load: Int32Array;
  readonly stats: RealizeStats = { swaps: 0, overflows: 0 };

  constructor(private readonly input: RealizeInput) {
    this.ctx = input.ctx;
    this.n = input.ctx.nodes.length;
    this.w = input.ctx.width;
    this.load = new Int32Array(this.n);
    for (const m of input.rep) if (m >= 0) this.load[m]!++;
  }

  run(): void {
    const members: number[][] = Array.from({ length: this.ctx.domains.count }, () => []);
    for (let u = 0; u < this.ctx.units; u++) members[this.ctx.domains.of[this.input.active[u]!]!]!.push(u);
    for (let g = 0; g < members.length; g++) {
      this.transfer(g, members[g]!);
      this.fill(g, members[g]!);
    }
  }

  private holds(u: number, node: number): boolean {
    if (this.input.active[u] === node) return true;
    for (let k = 0; k < this.w; k++) if (this.input.rep[u * this.w + k] === node) return true;
    return false;
  }

  /** True when none of `u`'s replicas shares `node`'s domain. */
  private isSpread(u: number, node: number): boolean {
    const d = this.ctx.domains.of[node];
    for (let k = 0; k < this.w; k++) {
      const m = this.input.rep[u * this.w + k]!;
      if (m >= 0 && this.ctx.domains.of[m] === d) return false;
    }
    return true;
  }

  /** Replicas of `u` in the active's own domain. */
  private inZone(u: number, g: number): number {
    let count = 0;
    for (let k = 0; k < this.w; k++) {
      const m = this.input.rep[u * this.w + k]!;
      if (m >= 0 && this.ctx.domains.of[m] === g) count++;
    }
    return count;
  }

  private isOpen(g: number, u: number, node: number): boolean {
    if (this.input.add[g * this.n + node]! <= 0 || this.holds(u, node)) return false;
    return this.ctx.domains.of[node] !== g || this.inZone(u, g) < this.input.allowance[g]!;
  }

  /** Best node still owed copies of group `g` that unit `u` can take, or -1. */
  private choose(g: number, u: number, cursor: number): number {
    if (cursor >= 0 && this.isOpen(g, u, cursor) && this.isSpread(u, cursor)) return cursor;
    const add = this.input.add;
    let best = -1;
    let bestSpread = false;
    for (const i of this.ctx.placeable) {
      if (!this.isOpen(g, u, i)) continue;
      const spread = this.isSpread(u, i);
      if (best < 0 || (spread && !bestSpread) || (spread === bestSpread && add[g * this.n + i]! > add[g * this.n + best]!)) {
        best = i;
        bestSpread = spread;
      }
    }
    if (!bestSpread && cursor >= 0 && this.isOpen(g, u, cursor)) return cursor;
    return best;
  }

  private put(g: number, slot: number, node: number): void {
    const old = this.input.rep[slot]!;
    if (old >= 0) this.load[old]!--;
    this.input.rep[slot] = node;
    this.input.add[g * this.n + node]!--;
    this.load[node]!++;
  }

  /** Hand copies from nodes over target to nodes under it, changing units first. */
  private transfer(g: number, members: readonly number[]): void {
    const { excess, rep, dirty } = this.input;
    const slotsOf = new Map<number, number[]>();
    for (const u of members) {
      for (let k = 0; k < this.w; k++) {
        const m = rep[u * this.w + k]!;
        if (m >= 0 && excess[g * this.n + m]! > 0) {
          let list = slotsOf.get(m);
          if (!list) slotsOf.set(m, (list = []));
          list.push(u * this.w + k);
        }
      }
    }
    for (const from of this.ctx.placeable) {
      const slots = slotsOf.get(from);
      if (!slots) continue;
      let left = excess[g * this.n + from]!;
      let cursor = -1;
      // Changing units first, each from the top; a unit no receiver fits is only emptied.
      for (const pass of [0, 1, 2]) {
        for (let j = slots.length - 1; j >= 0 && left > 0; j--) {
          const slot = slots[j]!;
          const u = Math.floor(slot / this.w);
          if (rep[slot] !== from || (pass < 2 && dirty[u] !== (pass === 0 ? 1 : 0))) continue;
          if (pass < 2) {
            const to = this.choose(g, u, cursor);
            if (to < 0) continue;
            this.put(g, slot, to);
            cursor = to;
          } else {
            rep[slot] = -1;
            this.load[from]!--;
          }
          dirty[u] = 1;
          left--;
        }
      }
    }
  }

  /**
   * Fill empty slots: units that hold some copies first, then wholly empty units by
   * layout; slots nothing fits are retried last, by trading with units filled meanwhile.
   */
  private fill(g: number, members: readonly number[]): void {
    const { rep } = this.input;
    const empty: number[] = [];
    const stuck: number[] = [];
    const cursors = new Int32Array(this.w).fill(-1);
    for (const u of members) {
      let free = 0;
      for (let k = 0; k < this.w; k++) if (rep[u * this.w + k]! < 0) free++;
      if (free === this.w) empty.push(u);
      else if (free > 0) this.fillUnit(g, u, cursors, stuck);
    }
    if (!this.layOut(g, empty)) for (const u of empty) this.fillUnit(g, u, cursors, stuck);
    for (const slot of stuck) {
      const u = Math.floor(slot / this.w);
      const chosen = this.choose(g, u, -1);
      if (chosen >= 0) this.put(g, slot, chosen);
      else if (!this.swapInto(g, u, slot, members)) this.overflow(g, u, slot);
    }
  }

  /** Fill `u`'s empty slots; `cursors` (one per slot) keep runs long; slots nothing fits go to `stuck`. */
  private fillUnit(g: number, u: number, cursors: Int32Array, stuck: number[]): void {
    for (let k = 0; k < this.w; k++) {
      const slot = u * this.w + k;
      if (this.input.rep[slot]! >= 0) continue;
      const chosen = this.choose(g, u, cursors[k]!);
      if (chosen >= 0) {
        this.put(g, slot, chosen);
        cursors[k] = chosen;
      } else {
        stuck.push(slot);
      }
    }
  }

  /**
   * Fill units with no copy at all: list every owed copy grouped by zone and node, and
   * deal position p to unit p mod E, slot p div E. A node owed at most E copies never
   * lands twice on one unit, each node gets a contiguous block of units, and the slots
   * of a unit come from different zones where the counts allow. False (nothing done)
   * when the counts or the zone allowance rule it out.
   */
  private layOut(g: number, units: readonly number[]): boolean {
    const E = units.length;
    if (E === 0) return true;
    if (this.input.allowance[g]! > 0) return false;
    const add = this.input.add;
    const order = this.ctx.placeable.filter((i) => add[g * this.n + i]! > 0)
      .sort((a, b) => this.ctx.domains.of[a]! - this.ctx.domains.of[b]!);
    let owed = 0;
    for (const i of order) {
      if (add[g * this.n + i]! > E) return false;
      owed += add[g * this.n + i]!;
    }
    if (owed < E * this.w) return false;
    let p = 0;
    for (const i of order) {
      for (let c = add[g * this.n + i]!; c > 0 && p < E * this.w; c--, p++) {
        this.put(g, units[p % E]! * this.w + Math.floor(p / E), i);
      }
    }
    return true;
  }

  /** Trade copies with another changing unit of the group so that `u` can take a node owed copies. */
  private swapInto(g: number, u: number, slot: number, members: readonly number[]): boolean {
    const { rep, add } = this.input;
    for (const target of this.ctx.placeable) {
      if (add[g * this.n + target]! === 0) continue;
      for (const v of members) {
        // Only units that change anyway: a trade must not touch a unit the plan leaves alone.
        if (v === u || !this.input.dirty[v] || this.holds(v, target)) continue;
        for (let j = 0; j < this.w; j++) {
          const m = rep[v * this.w + j]!;
          if (m < 0 || this.holds(u, m) || !this.isSwapAllowed(g, u, v, m, target)) continue;
          rep[slot] = m;
          this.load[m]!++;
          this.put(g, v * this.w + j, target);
          this.input.dirty[v] = 1;
          this.stats.swaps++;
          return true;
        }
      }
    }
    return false;
  }

  /** True when giving `m` to `u` and `target` to `v` (in place of `m`) keeps both within the zone allowance. */
  private isSwapAllowed(g: number, u: number, v: number, m: number, target: number): boolean {
    const allowance = this.input.allowance[g]!;
    const isMInside = this.ctx.domains.of[m] === g;
    if (isMInside && this.inZone(u, g) >= allowance) return false;
    if (this.ctx.domains.of[target] === g && this.inZone(v, g) - (isMInside ? 1 : 0) >= allowance) return false;
    return true;
  }

  /** Place a copy on the least loaded node allowed for `u`, beyond targets. */
  private overflow(g: number, u: number, slot: number): void {
    const quota = this.input.quota;
    let best = -1;
    for (const pass of [0, 1]) {
      for (const i of this.ctx.placeable) {
        if (this.holds(u, i) || (pass === 0 && this.ctx.domains.of[i] === g)) continue;
        if (best < 0 || (this.load[i]! + 1) / quota[i]! < (this.load[best]! + 1) / quota[best]!) best = i;
      }
      if (best >= 0) break;
    }
    this.input.rep[slot] = best;
    this.load[best]!++;
    this.stats.overflows++;
  }
}

/** Apply the targets to `input.rep` in place. */
export function realizeReplicas(input: RealizeInput): RealizeStats {
  const realizer = new Realizer(input);
  realizer.run();
  return realizer.stats;
}
