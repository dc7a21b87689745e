/**
 * Min-cost max-flow on a small network (primal-dual: shortest path distances by
 * Dijkstra on reduced costs, then a blocking flow on the zero-reduced-cost edges).
 * Costs are small integers, so there are only a few phases. Deterministic: edges are
 * explored in the order they were added.
 */

export class MinCostFlow {
  private readonly head: Int32Array;
  private readonly to: number[] = [];
  private readonly next: number[] = [];
  private readonly residual: number[] = [];
  private readonly cost: number[] = [];
  private readonly potential: Float64Array;
  private readonly level: Int32Array;
  private readonly cursor: Int32Array;

  constructor(readonly size: number) {
    this.head = new Int32Array(size).fill(-1);
    this.potential = new Float64Array(size);
    this.level = new Int32Array(size);
    this.cursor = new Int32Array(size);
  }

  /** Add an edge; returns its id for `flowOn`. Costs may be negative; the network must start acyclic. */
  addEdge(from: number, to: number, capacity: number, cost: number): number {
    const id = this.to.length;
    this.link(from, to, capacity, cost);
    this.link(to, from, 0, cost === 0 ? 0 : -cost);
    return id;
  }

  flowOn(edge: number): number {
    return this.residual[edge ^ 1]!;
  }

  /** Send as much flow as possible from `source` to `sink` at the least total cost; returns the flow. */
  run(source: number, sink: number): number {
    this.initPotentials(source);
    let total = 0;
    for (;;) {
      if (!this.reprice(source, sink)) break;
      const added = this.blockingFlow(source, sink);
      if (added === 0) break;
      total += added;
    }
    return total;
  }

  private link(from: number, to: number, capacity: number, cost: number): void {
    this.to.push(to);
    this.residual.push(capacity);
    this.cost.push(cost);
    this.next.push(this.head[from]!);
    this.head[from] = this.to.length - 1;
  }

  private reduced(e: number, from: number): number {
    return this.cost[e]! + this.potential[from]! - this.potential[this.to[e]!]!;
  }

  /** Bellman-Ford from the source, so that reduced costs start non-negative. */
  private initPotentials(source: number): void {
    const dist = this.potential;
    dist.fill(Number.POSITIVE_INFINITY);
    dist[source] = 0;
    for (let round = 0; round < this.size; round++) {
      let isChanged = false;
      for (let v = 0; v < this.size; v++) {
        if (dist[v] === Number.POSITIVE_INFINITY) continue;
        for (let e = this.head[v]!; e !== -1; e = this.next[e]!) {
          if (this.residual[e]! <= 0) continue;
          const d = dist[v]! + this.cost[e]!;
          if (d < dist[this.to[e]!]!) {
            dist[this.to[e]!] = d;
            isChanged = true;
          }
        }
      }
      if (!isChanged) break;
    }
    for (let v = 0; v < this.size; v++) if (dist[v] === Number.POSITIVE_INFINITY) dist[v] = 0;
  }

  /** Dijkstra on reduced costs; moves potentials so shortest paths have zero reduced cost. */
  private reprice(source: number, sink: number): boolean {
    const n = this.size;
    const dist = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
    const done = new Uint8Array(n);
    dist[source] = 0;
    for (;;) {
      let v = -1;
      for (let i = 0; i < n; i++) if (!done[i] && dist[i]! < Number.POSITIVE_INFINITY && (v < 0 || dist[i]! < dist[v]!)) v = i;
      if (v < 0) break;
      done[v] = 1;
      for (let e = this.head[v]!; e !== -1; e = this.next[e]!) {
        if (this.residual[e]! <= 0) continue;
        const d = dist[v]! + this.reduced(e, v);
        if (d < dist[this.to[e]!]!) dist[this.to[e]!] = d;
      }
    }
    if (dist[sink] === Number.POSITIVE_INFINITY) return false;
    for (let v = 0; v < n; v++) this.potential[v]! += Math.min(dist[v]!, dist[sink]!);
    return true;
  }

  private isAdmissible(e: number, from: number): boolean {
    return this.residual[e]! > 0 && this.reduced(e, from) === 0;
  }

  private blockingFlow(source: number, sink: number): number {
    let total = 0;
    for (;;) {
      this.level.fill(-1);
      this.level[source] = 0;
      const queue = [source];
      for (let qi = 0; qi < queue.length; qi++) {
        const v = queue[qi]!;
        for (let e = this.head[v]!; e !== -1; e = this.next[e]!) {
          const w = this.to[e]!;
          if (this.level[w]! >= 0 || !this.isAdmissible(e, v)) continue;
          this.level[w] = this.level[v]! + 1;
          queue.push(w);
        }
      }
      if (this.level[sink]! < 0) return total;
      this.cursor.set(this.head);
      for (;;) {
        const f = this.push(source, sink, Number.POSITIVE_INFINITY);
        if (f === 0) break;
        total += f;
      }
    }
  }

  private push(v: number, sink: number, limit: number): number {
    if (v === sink) return limit;
    for (; this.cursor[v] !== -1; this.cursor[v] = this.next[this.cursor[v]!]!) {
      const e = this.cursor[v]!;
      const w = this.to[e]!;
      if (this.level[w] !== this.level[v]! + 1 || !this.isAdmissible(e, v)) continue;
      const f = this.push(w, sink, Math.min(limit, this.residual[e]!));
      if (f > 0) {
        this.residual[e]! -= f;
        this.residual[e ^ 1]! += f;
        return f;
      }
    }
    return 0;
  }
}
