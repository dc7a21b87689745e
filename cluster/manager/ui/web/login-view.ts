/**
 * Login on a secure manager: a password principal's name and password, or a key
 * principal's credentials file (as `pandakv up` writes it). The secret never leaves the
 * page: it signs the manager's challenge here (see ../login.ts).
 */
import { html } from 'htm/preact';
import type { VNode } from 'preact';
import { useState } from 'preact/hooks';
import { login, LoginError, type LoginCredentials } from '../login.js';
import type { FeedClient } from './feed-client.js';

export function LoginView({ feed, problem }: { feed: FeedClient; problem: string | null }): VNode {
  const [principal, setPrincipal] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const run = async (creds: LoginCredentials): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const r = await login(creds);
      feed.useToken(r.token, creds.principal, r.roles);
    } catch (err) {
      setError(err instanceof LoginError && err.code === 'KV_ERR_AUTH_FAILED' ? 'Wrong name or password.' : String(err instanceof Error ? err.message : err));
    } finally {
      setBusy(false);
    }
  };

  const onSubmit = (ev: Event): void => {
    ev.preventDefault();
    void run({ principal: principal.trim(), password });
  };

  const onFile = async (ev: Event): Promise<void> => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file === undefined) return;
    try {
      const v = JSON.parse(await file.text()) as Record<string, unknown>;
      if (typeof v.principal !== 'string') throw new Error('no "principal" in the file');
      if (typeof v.secretKey === 'string') await run({ principal: v.principal, secretKey: v.secretKey });
      else if (typeof v.password === 'string') await run({ principal: v.principal, password: v.password });
      else throw new Error('the file has neither "secretKey" nor "password"');
    } catch (err) {
      setError(`Credentials file: ${err instanceof Error ? err.message : String(err)}`);
    }
  };

  return html`<section class="panel login" id="login">
    <h2>Log in</h2>
    <p class="hint">This manager is secure. Log in as a principal with the <code>monitor</code> role (watch only) or <code>admin</code> (watch and act).</p>
    <form onSubmit=${onSubmit}>
      <label>Principal <input name="principal" autocomplete="username" value=${principal} onInput=${(e: Event) => setPrincipal((e.target as HTMLInputElement).value)} required /></label>
      <label>Password <input name="password" type="password" autocomplete="current-password" value=${password} onInput=${(e: Event) => setPassword((e.target as HTMLInputElement).value)} required /></label>
      <button type="submit" disabled=${busy}>${busy ? 'Logging in…' : 'Log in'}</button>
    </form>
    <p class="hint">or a credentials file (for example <code>dev.credentials.json</code> of <code>pandakv up</code>):
      <input type="file" name="credentials" accept=".json,application/json" onChange=${onFile} /></p>
    ${error !== null || problem !== null ? html`<p class="error" role="alert">${error ?? problem}</p>` : null}
  </section>`;
}
