/** The page: header, then the panels in one column, each with an anchor in the nav. */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { usePage, type PageState } from './store.js';
import type { FeedClient } from './feed-client.js';
import { LoginView } from './login-view.js';
import { MapView } from './map-view.js';
import { NodeCards } from './node-cards.js';
import { RebalanceView } from './rebalance-view.js';
import { FollowView } from './follow-view.js';
import { TimelineView } from './timeline-view.js';
import { ChartsView } from './charts-view.js';
import { WhatIfView } from './what-if-view.js';
import { ConfirmDialog } from './confirm.js';
import { MetricsCatalogue } from './metric-link.js';
import { redundancyOf } from '../what-if.js';

const STATUS: Record<PageState['connection'], string> = {
  connecting: 'connecting…', login: 'log in', open: 'live', closed: 'reconnecting…', synthetic: 'synthetic map (no cluster)',
};

function Header({ s, feed }: { s: PageState; feed: FeedClient | null }): VNode {
  return html`<header class="top">
    <h1>PandaKV</h1>
    <span class=${`badge conn-${s.connection}`} data-test="connection" data-tick-at=${s.lastTickAt}>${STATUS[s.connection]}</span>
    ${s.manager !== '' ? html`<span class="muted">manager ${s.manager}${s.connection === 'open' ? (s.isLeader ? ' (leader)' : ' (follower)') : ''}</span>` : null}
    <nav>${['map', 'nodes', 'rebalance', 'follow', 'charts', 'timeline', 'whatif', 'metrics'].map((id) => html`<a href=${`#${id}`}>${id === 'whatif' ? 'what-if' : id}</a>`)}</nav>
    ${s.principal !== null ? html`<span class="who">${s.principal} <small>(${s.roles.join(', ')})</small>
      <button onClick=${() => feed?.logout()}>log out</button></span>` : null}
  </header>`;
}

export function App({ feed }: { feed: FeedClient | null }): VNode {
  const s = usePage();
  if (s.connection === 'login' && feed !== null) {
    return html`<${Header} s=${s} feed=${feed} /><main><${LoginView} feed=${feed} problem=${s.problem} /></main>`;
  }
  const isAdmin = s.connection === 'open' && (!s.isSecure || s.roles.includes('admin'));
  return html`<${Header} s=${s} feed=${feed} />
    <main>
      ${s.problem !== null ? html`<p class="error" role="alert">${s.problem}</p>` : null}
      ${s.map !== null ? html`<${MapView} map=${s.map} followedUnit=${s.followed?.unit ?? null} />` : html`<section class="panel"><p>Waiting for the map…</p></section>`}
      <${NodeCards} nodes=${s.nodes} isAdmin=${isAdmin} now=${s.lastTickAt} />
      ${s.rebalance !== null ? html`<${RebalanceView} r=${s.rebalance} samples=${s.samples} isAdmin=${isAdmin} redundancy=${s.map === null ? 1 : redundancyOf(s.map)} />` : null}
      <${FollowView} map=${s.map} follow=${s.follow} seqnos=${s.followSeqnos} feed=${feed} />
      <${ChartsView} ids=${s.nodes.map((n) => n.id)} history=${s.history} />
      <${TimelineView} events=${s.events} hasLog=${s.connection === 'open'} />
      <${WhatIfView} live=${s.map} />
      <${MetricsCatalogue} />
    </main>
    <${ConfirmDialog} />`;
}
