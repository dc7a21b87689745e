/**
 * Every action asks first: a modal that names what will happen, with Confirm and Cancel.
 * One dialog at a time, opened with `ask()`.
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useEffect, useState } from 'preact/hooks';

interface Pending {
  title: string;
  detail: string;
  resolve: (ok: boolean) => void;
}

let show: ((p: Pending | null) => void) | null = null;

/** Ask the operator; resolves true on Confirm. */
export function ask(title: string, detail: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (show === null) {
      resolve(false);
      return;
    }
    show({ title, detail, resolve });
  });
}

export function ConfirmDialog(): VNode | null {
  const [pending, setPending] = useState<Pending | null>(null);
  useEffect(() => {
    show = setPending;
    return () => {
      show = null;
    };
  }, []);
  if (pending === null) return null;
  const answer = (ok: boolean): void => {
    setPending(null);
    pending.resolve(ok);
  };
  return html`<div class="modal-backdrop" role="presentation">
    <div class="modal" role="dialog" aria-modal="true" aria-labelledby="confirm-title">
      <h3 id="confirm-title">${pending.title}</h3>
      <p>${pending.detail}</p>
      <div class="buttons">
        <button class="danger" data-test="confirm" onClick=${() => answer(true)}>Confirm</button>
        <button data-test="cancel" onClick=${() => answer(false)}>Cancel</button>
      </div>
    </div>
  </div>`;
}
