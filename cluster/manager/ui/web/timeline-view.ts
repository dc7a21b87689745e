/** The cluster's events (the manager's event log), newest first, filterable by name and text. */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import type { FeedEvent } from '../feed-protocol.js';
import { fmtTime } from './format.js';

const SHOWN = 300;

function matches(e: FeedEvent, name: string, text: string): boolean {
  if (name !== '' && e.name !== name) return false;
  if (text === '') return true;
  const hay = `${e.name} ${e.component} ${e.id ?? ''} ${Object.entries(e.fields).map(([k, v]) => `${k}=${String(v)}`).join(' ')}`.toLowerCase();
  return hay.includes(text.toLowerCase());
}

export function TimelineView({ events, hasLog }: { events: FeedEvent[]; hasLog: boolean }): VNode {
  const [name, setName] = useState('');
  const [text, setText] = useState('');
  const names = [...new Set(events.map((e) => e.name))].sort();
  const shown: FeedEvent[] = [];
  for (let i = events.length - 1; i >= 0 && shown.length < SHOWN; i--) if (matches(events[i]!, name, text)) shown.push(events[i]!);
  return html`<section id="timeline" class="panel">
    <h2>Timeline <small>${events.length} events</small></h2>
    <div class="row">
      <select data-test="timeline-name" value=${name} onChange=${(e: Event) => setName((e.target as HTMLSelectElement).value)}>
        <option value="">every event</option>
        ${names.map((n) => html`<option value=${n}>${n}</option>`)}
      </select>
      <input placeholder="filter: node id, field…" data-test="timeline-text" value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} />
    </div>
    ${!hasLog && events.length === 0 ? html`<p class="hint">No events yet.</p>` : null}
    <ol class="timeline" data-test="timeline">
      ${shown.map((e) => html`<li class=${`ev ev-${e.name}`} data-event=${e.name}>
        <time>${fmtTime(e.at)}</time>${' '}<b>${e.name}</b>${' '}<span class="who">${e.component}${e.id === undefined ? '' : ` ${e.id}`}</span>${' '}
        <span class="fields">${Object.entries(e.fields).map(([k, v]) => html`<span><i>${k}</i>=${String(v)}${' '}</span>`)}</span>
      </li>`)}
    </ol>
  </section>`;
}
