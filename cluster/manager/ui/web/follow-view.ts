/**
 * Follow a key: its bucket, unit, chain and epoch from the map (the SDK's own routing,
 * bundled), each copy's seqno as the nodes report it with every heartbeat, and the move
 * when its unit is in motion. Its unit is marked on the map.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import type { ClusterMap } from '../../../../shared/cluster-map.js';
import type { FeedFollow } from '../feed-protocol.js';
import { locateKey } from '../follow-key.js';
import { store } from './store.js';
import type { FeedClient } from './feed-client.js';
import { MetricLink } from './metric-link.js';
import { fmtInt, fmtTime, shortId } from './format.js';

/** A copy's value size: exact bytes, 'none' when the copy holds no value, '–' before its node reported. */
function valueText(v: FeedFollow['copies'][number]['value'] | undefined): string {
  if (v === undefined || v === null) return '–';
  return v.bytes === null ? 'none' : `${fmtInt(v.bytes)} B`;
}

/** The leading manager's dashboard: the map lists the managers, the leader first. */
function leaderDashboard(map: ClusterMap | null, self: string): string | null {
  const leader = map?.managers?.[0];
  if (leader === undefined || leader.address === self || !/^https?:\/\/[^/?#]+$/.test(leader.address)) return null;
  return `${leader.address}/ui`;
}

export function FollowView({ map, follow, seqnos, feed }: { map: ClusterMap | null; follow: FeedFollow | null; seqnos: Map<string, number[]>; feed: FeedClient | null }): VNode {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const followed = store.state.followed;

  // The key's place changes with the map: locate it again on each new map.
  useEffect(() => {
    const f = store.state.followed;
    if (f === null || map === null) return;
    const place = locateKey(map, f.key);
    if (place.unit !== f.unit) feed?.follow(place.unit, f.key);
    store.set({ followed: place, ...(place.unit !== f.unit ? { followSeqnos: new Map() } : {}) });
  }, [map]);

  const onSubmit = (ev: Event): void => {
    ev.preventDefault();
    if (map === null) return;
    const bytes = new TextEncoder().encode(key).length;
    if (bytes < 1 || bytes > 250) {
      setError('a key is 1 to 250 bytes');
      return;
    }
    try {
      const place = locateKey(map, key);
      setError(null);
      store.set({ followed: place, followSeqnos: new Map(), follow: null });
      feed?.follow(place.unit, place.key);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    }
  };

  const stop = (): void => {
    store.set({ followed: null, followSeqnos: new Map(), follow: null });
    feed?.follow(null);
  };

  // Nodes heartbeat to the leading manager only: a follower has no seqnos or sizes to give.
  const isFollower = store.state.lastTickAt > 0 && !store.state.isLeader;
  const leaderUrl = isFollower ? leaderDashboard(map, store.state.manager) : null;
  const copies = follow !== null && followed !== null && follow.unit === followed.unit ? follow.copies : [];
  // The manager reports sizes only to principals that may read (a size tells whether a key exists).
  const s = store.state;
  const isSizeHidden = s.isSecure && !s.roles.includes('read') && !s.roles.includes('admin');
  return html`<section id="follow" class="panel">
    <h2>Follow a key</h2>
    <form onSubmit=${onSubmit} class="row">
      <input name="key" placeholder="key, e.g. user:42" value=${key} data-test="follow-key" onInput=${(e: Event) => setKey((e.target as HTMLInputElement).value)} />
      <button type="submit" data-test="follow-go">Follow</button>
      ${followed !== null ? html`<button type="button" onClick=${stop}>Stop</button>` : null}
    </form>
    ${error !== null ? html`<p class="error">${error}</p>` : null}
    ${followed === null ? html`<p class="hint">The key is hashed here, with the same keystream and routing as the SDK; nothing is read from the cluster but the copies' seqnos and the size of the key's value in each (never the value).</p>` : html`
      <dl class="inline" data-test="follow-place">
        <dt>key</dt><dd><code>${followed.key}</code></dd>
        <dt>bucket</dt><dd data-test="follow-bucket">${followed.bucket}</dd>
        <dt>unit</dt><dd data-test="follow-unit">${followed.unit}</dd>
        <dt><${MetricLink} figure="epoch">epoch<//></dt><dd data-test="follow-epoch">${followed.epoch}</dd>
        <dt><${MetricLink} figure="rev">map rev<//></dt><dd>${followed.rev}</dd>
        <dt>move</dt><dd data-test="follow-move">${followed.move === null ? 'none' : `${shortId(followed.move.from)} → ${shortId(followed.move.to)} (${followed.move.phase})`}</dd>
      </dl>
      <table class="grid" data-test="follow-chain">
        <thead><tr><th>copy</th><th>node</th><th><${MetricLink} figure="seqno">seqno<//></th><th><${MetricLink} figure="valueBytes">value size<//></th><th>recent seqnos</th></tr></thead>
        <tbody>${followed.chain.map((id, i) => {
          const c = copies.find((x) => x.id === id);
          const seen = seqnos.get(id) ?? [];
          return html`<tr data-node=${id}><td>${i === 0 ? 'active' : `replica ${i}`}</td><td title=${id}>${shortId(id)}</td>
            <td data-test="seqno">${isFollower ? 'at the leader' : c?.seqno ?? '–'}</td>
            <td data-test="value-bytes" data-bytes=${c?.value?.bytes ?? ''} title=${c?.value == null ? 'no report yet' : `reported ${fmtTime(c.value.at)}`}>${isFollower ? 'at the leader' : valueText(c?.value)}</td>
            <td class="trail">${seen.slice(-8).join(' → ')}</td></tr>`;
        })}
        ${copies.filter((c) => !followed.chain.includes(c.id)).map((c) => html`<tr class="extra" data-node=${c.id}><td>leftover copy</td><td title=${c.id}>${shortId(c.id)}</td><td>${c.seqno ?? '–'}</td><td data-test="value-bytes">${valueText(c.value)}</td><td></td></tr>`)}
        </tbody>
      </table>
      ${isFollower ? html`<p class="hint" data-test="follow-at-leader">Seqnos and value sizes reach only the leading manager (the nodes heartbeat to it); this manager follows. ${leaderUrl === null
        ? 'The map lists no other manager yet.'
        : html`Open the leader's dashboard: <a href=${leaderUrl} data-test="leader-link">${leaderUrl}</a>`}</p>` : null}
      ${isSizeHidden ? html`<p class="hint" data-test="sizes-hidden">Value sizes are shown to principals with the read or admin role: a size tells whether the key exists.</p>` : null}`}
  </section>`;
}
