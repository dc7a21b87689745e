/**
 * The page's end of the live feed (`/ui/live`): connects, sends the token when the
 * manager asks for one, folds every message into the store, and reconnects with backoff
 * when the connection drops (a closed-for-auth connection goes back to the login form).
 */
import type { FeedClientMessage, FeedServerMessage } from '../feed-protocol.js';
import { store } from './store.js';

const BACKOFF_MS = [250, 500, 1000, 2000, 5000];
const CLOSE_AUTH_NEEDED = 4001;
const CLOSE_FORBIDDEN = 4003;
const TOKEN_KEY = 'pandakv.dashboard.token';

export class FeedClient {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer: number | null = null;
  private followUnit: number | null = null;
  private followKey: string | null = null;

  constructor(private readonly url: string) {}

  start(): void {
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved !== null) store.set({ token: saved });
    this.open();
  }

  /** Use a token from the login form and connect again with it. */
  useToken(token: string, principal: string, roles: string[]): void {
    sessionStorage.setItem(TOKEN_KEY, token);
    store.set({ token, principal, roles, problem: null, connection: 'connecting' });
    this.reopen();
  }

  logout(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    store.set({ token: null, principal: null, roles: [], connection: 'login' });
    this.ws?.close(1000, 'logout');
  }

  /** Ask for the copies' seqnos of `unit` and their value sizes of `key` with every tick (null stops). */
  follow(unit: number | null, key: string | null = null): void {
    this.followUnit = unit;
    this.followKey = unit === null ? null : key;
    this.send(this.followMessage());
  }

  private followMessage(): FeedClientMessage {
    return this.followUnit === null || this.followKey === null
      ? { t: 'follow', unit: this.followUnit }
      : { t: 'follow', unit: this.followUnit, key: this.followKey };
  }

  private send(m: FeedClientMessage): void {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }

  private reopen(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const old = this.ws;
    this.ws = null;
    old?.close(1000, 'reconnect');
    this.open();
  }

  private open(): void {
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onmessage = (ev: MessageEvent) => {
      if (this.ws !== ws || typeof ev.data !== 'string') return;
      this.onMessage(JSON.parse(ev.data) as FeedServerMessage);
    };
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (ev.code === CLOSE_AUTH_NEEDED || ev.code === CLOSE_FORBIDDEN) {
        sessionStorage.removeItem(TOKEN_KEY);
        store.set({ token: null, connection: 'login', problem: ev.code === CLOSE_FORBIDDEN ? 'this principal has neither the monitor nor the admin role' : store.state.problem });
        return;
      }
      if (store.state.connection === 'login') return;
      store.set({ connection: 'closed' });
      const delay = BACKOFF_MS[Math.min(this.attempt++, BACKOFF_MS.length - 1)]!;
      this.timer = window.setTimeout(() => {
        this.timer = null;
        this.open();
      }, delay);
    };
  }

  private onMessage(m: FeedServerMessage): void {
    switch (m.t) {
      case 'hello': {
        store.set({ isSecure: m.isSecure, manager: m.manager });
        const token = store.state.token;
        if (!m.isAuthNeeded) return;
        if (token === null) {
          store.set({ connection: 'login' });
          this.ws?.close(1000, 'login first');
        } else this.send({ t: 'auth', token });
        return;
      }
      case 'ready':
        this.attempt = 0;
        store.set({ connection: 'open', principal: m.principal, roles: m.roles, problem: null });
        if (this.followUnit !== null) this.send(this.followMessage());
        return;
      case 'map':
        store.set({ map: m.map });
        return;
      case 'events':
        store.addEvents(m.events, m.isInitial);
        return;
      case 'tick':
        store.applyTick(m.at, m.isLeader, m.nodes, m.rebalance, m.follow);
        return;
      case 'err':
        store.set({ problem: `${m.code}: ${m.message}` });
        return;
    }
  }
}
