/**
 * The page's state: one object, replaced (never mutated) on every change, and a hook
 * that re-renders a component when it changes. What the feed pushes lands here; so do
 * the chart histories and the rebalance samples, kept for the last minutes only.
 */
import { useEffect, useState } from 'preact/hooks';
import type { ClusterMap } from '../../../../shared/cluster-map.js';
import type { FeedEvent, FeedFollow, FeedNode, FeedRebalance } from '../feed-protocol.js';
import { addSample, type ProgressSample } from '../rebalance-rate.js';
import type { KeyPlace } from '../follow-key.js';

/** Chart points kept: one per tick, ten minutes at the default push interval. */
export const HISTORY_POINTS = 600;
/** Window of the rebalance rate. */
export const RATE_WINDOW_MS = 20_000;
/** Events kept on the page. */
export const MAX_EVENTS = 2000;

export interface NodeHistory {
  at: number[];
  ops: Array<number | null>;
  p50: Array<number | null>;
  p99: Array<number | null>;
}

export type Connection = 'connecting' | 'login' | 'open' | 'closed' | 'synthetic';

export interface PageState {
  connection: Connection;
  /** Why the last login or connection failed. */
  problem: string | null;
  isSecure: boolean;
  manager: string;
  principal: string | null;
  roles: string[];
  token: string | null;
  map: ClusterMap | null;
  nodes: FeedNode[];
  isLeader: boolean;
  rebalance: FeedRebalance | null;
  samples: ProgressSample[];
  /** Newest last. */
  events: FeedEvent[];
  history: Map<string, NodeHistory>;
  follow: FeedFollow | null;
  followed: KeyPlace | null;
  /** Seqnos seen per node for the followed unit, oldest first (to show them rise). */
  followSeqnos: Map<string, number[]>;
  lastTickAt: number;
}

export const initialState: PageState = {
  connection: 'connecting', problem: null, isSecure: false, manager: '', principal: null, roles: [], token: null,
  map: null, nodes: [], isLeader: false, rebalance: null, samples: [], events: [], history: new Map(),
  follow: null, followed: null, followSeqnos: new Map(), lastTickAt: 0,
};

type Listener = (s: PageState) => void;

export class Store {
  private value: PageState = initialState;
  private readonly listeners = new Set<Listener>();

  get state(): PageState {
    return this.value;
  }

  set(patch: Partial<PageState>): void {
    this.value = { ...this.value, ...patch };
    for (const l of this.listeners) l(this.value);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Fold a tick into the state: nodes, rebalance samples, chart history, followed seqnos. */
  applyTick(at: number, isLeader: boolean, nodes: FeedNode[], rebalance: FeedRebalance, follow: FeedFollow | null): void {
    const s = this.value;
    const history = new Map(s.history);
    for (const n of nodes) {
      const h = history.get(n.id) ?? { at: [], ops: [], p50: [], p99: [] };
      const isFresh = n.load !== null && at - n.load.at < 10_000;
      const next: NodeHistory = {
        at: [...h.at, at / 1000].slice(-HISTORY_POINTS),
        ops: [...h.ops, isFresh ? n.opsPerSec : null].slice(-HISTORY_POINTS),
        p50: [...h.p50, isFresh && n.load !== null ? n.load.p50Us : null].slice(-HISTORY_POINTS),
        p99: [...h.p99, isFresh && n.load !== null ? n.load.p99Us : null].slice(-HISTORY_POINTS),
      };
      history.set(n.id, next);
    }
    const mv = rebalance.moves;
    const samples = addSample([...s.samples], { at, unitsMoved: mv.unitsMoved, bytesCopied: mv.bytesCopied }, RATE_WINDOW_MS);
    let followSeqnos = s.followSeqnos;
    if (follow !== null && s.followed !== null && follow.unit === s.followed.unit) {
      followSeqnos = new Map(followSeqnos);
      for (const c of follow.copies) {
        if (c.seqno === null) continue;
        const list = followSeqnos.get(c.id) ?? [];
        if (list[list.length - 1] !== c.seqno) followSeqnos.set(c.id, [...list, c.seqno].slice(-20));
      }
    }
    this.set({ lastTickAt: at, isLeader, nodes, rebalance, samples, history, follow, followSeqnos });
  }

  addEvents(events: FeedEvent[], isInitial: boolean): void {
    const all = isInitial ? events : [...this.value.events, ...events];
    this.set({ events: all.slice(-MAX_EVENTS) });
  }
}

export const store = new Store();

/** The page state, re-rendering the caller on every change. */
export function usePage(): PageState {
  const [s, setS] = useState(store.state);
  useEffect(() => {
    // A change between the first render and this effect would otherwise be missed.
    setS(store.state);
    return store.subscribe(setS);
  }, []);
  return s;
}
