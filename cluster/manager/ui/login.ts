/**
 * The admin API's login (docs/auth.md, admin-auth.ts) for the dashboard page: the same
 * challenge handshake as `pandakv cluster`, in portable code (Uint8Array, TextEncoder,
 * fetch, WebCrypto's random bytes) so it runs in the browser and in tests alike.
 *
 *   POST /api/auth/challenge {principal}   → {nonce, serverId, salt?}
 *   sign the client transcript with the principal's key (a password principal's key is
 *   derived with Argon2id from the password and the salt, as crypto_pwhash does)
 *   POST /api/auth {principal, nonce, clientNonce, signature} → {token, serverSignature, …}
 *
 * The manager's answer is checked too (mutual auth), against the key it presents: the
 * page itself came from that manager, so there is nothing better to pin.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { argon2id } from 'hash-wasm';

/** What the page logs in with: a password, or a key credentials file's secret key. */
export type LoginCredentials =
  | { principal: string; password: string }
  | { principal: string; secretKey: string };

export interface LoginResult {
  token: string;
  roles: string[];
  expiresInMs: number;
}

/** Argon2id cost of password principals: libsodium's INTERACTIVE limits, the manager's default. */
export const PASSWORD_COST = Object.freeze({ iterations: 2, memorySizeKiB: 65536 });

const CLIENT_DOMAIN = 'pandakv-auth-v1\0';
const SERVER_DOMAIN = 'pandakv-auth-v1-server\0';
const NONCE_BYTES = 32;

/** A login refused or failed; `code` is the admin API's error code when it gave one. */
export class LoginError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'LoginError';
  }
}

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

export function fromHex(hex: string): Uint8Array {
  if (!/^(?:[0-9a-f]{2})*$/i.test(hex)) throw new LoginError('KV_ERR_BAD_REQUEST', 'not hex');
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** `"pandakv-auth-v1\0" ‖ nonce ‖ u16be(len) ‖ serverId ‖ clientNonce`, as shared/auth/transcript.ts. */
export function clientTranscript(nonce: Uint8Array, serverId: string, clientNonce: Uint8Array): Uint8Array {
  const enc = new TextEncoder();
  const domain = enc.encode(CLIENT_DOMAIN);
  const id = enc.encode(serverId);
  const out = new Uint8Array(domain.length + NONCE_BYTES + 2 + id.length + NONCE_BYTES);
  let at = 0;
  out.set(domain, at);
  at += domain.length;
  out.set(nonce, at);
  at += NONCE_BYTES;
  out[at++] = id.length >>> 8;
  out[at++] = id.length & 0xff;
  out.set(id, at);
  at += id.length;
  out.set(clientNonce, at);
  return out;
}

/** `"pandakv-auth-v1-server\0" ‖ clientNonce ‖ nonce`, as shared/auth/transcript.ts. */
export function serverTranscript(clientNonce: Uint8Array, nonce: Uint8Array): Uint8Array {
  const domain = new TextEncoder().encode(SERVER_DOMAIN);
  const out = new Uint8Array(domain.length + 2 * NONCE_BYTES);
  out.set(domain, 0);
  out.set(clientNonce, domain.length);
  out.set(nonce, domain.length + NONCE_BYTES);
  return out;
}

/** The Ed25519 seed of a password principal: Argon2id13 (NFC, UTF-8), 32 bytes. */
export async function passwordSeed(password: string, salt: Uint8Array): Promise<Uint8Array> {
  return argon2id({
    password: new TextEncoder().encode(password.normalize('NFC')), salt,
    iterations: PASSWORD_COST.iterations, memorySize: PASSWORD_COST.memorySizeKiB, parallelism: 1, hashLength: 32, outputType: 'binary',
  });
}

/** The public key of an Ed25519 seed. */
export function publicKeyOfSeed(seed: Uint8Array): Uint8Array {
  return ed25519.getPublicKey(seed);
}

type Fetch = (url: string, init: { method: string; headers: Record<string, string>; body: string }) => Promise<{ status: number; json(): Promise<unknown> }>;

async function post(fetchFn: Fetch, base: string, path: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await fetchFn(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json().catch(() => null) as Record<string, unknown> | null;
  if (json === null || typeof json !== 'object') throw new LoginError('KV_ERR_INTERNAL', `${path} answered ${res.status} without JSON`);
  if (res.status !== 200) {
    const err = json.error as { code?: unknown; message?: unknown } | undefined;
    throw new LoginError(typeof err?.code === 'string' ? err.code : 'KV_ERR_INTERNAL', typeof err?.message === 'string' ? err.message : `${path} answered ${res.status}`);
  }
  return json;
}

/**
 * Log in to the manager at `base` (`''` for the page's own origin).
 * @throws LoginError with the admin API's code (KV_ERR_AUTH_FAILED for a wrong password)
 */
export async function login(creds: LoginCredentials, base = '', fetchFn: Fetch = fetch as unknown as Fetch): Promise<LoginResult> {
  const c = await post(fetchFn, base, '/api/auth/challenge', { principal: creds.principal });
  if (typeof c.nonce !== 'string' || typeof c.serverId !== 'string') throw new LoginError('KV_ERR_INTERNAL', 'malformed challenge');
  const nonce = fromHex(c.nonce);
  let seed: Uint8Array;
  if ('password' in creds) {
    if (typeof c.salt !== 'string') throw new LoginError('KV_ERR_AUTH_FAILED', 'authentication failed');
    seed = await passwordSeed(creds.password, fromHex(c.salt));
  } else {
    const secret = fromHex(creds.secretKey);
    if (secret.length !== 64) throw new LoginError('KV_ERR_BAD_REQUEST', 'the secret key must be 128 hex digits');
    seed = secret.slice(0, 32);
  }
  const clientNonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  const signature = ed25519.sign(clientTranscript(nonce, c.serverId, clientNonce), seed);
  seed.fill(0);
  const r = await post(fetchFn, base, '/api/auth', { principal: creds.principal, nonce: c.nonce, clientNonce: toHex(clientNonce), signature: toHex(signature) });
  if (typeof r.token !== 'string' || typeof r.serverSignature !== 'string' || typeof r.serverPublicKey !== 'string') {
    throw new LoginError('KV_ERR_INTERNAL', 'malformed login answer');
  }
  if (!ed25519.verify(fromHex(r.serverSignature), serverTranscript(clientNonce, nonce), fromHex(r.serverPublicKey))) {
    throw new LoginError('KV_ERR_AUTH_FAILED', 'the manager did not prove its key');
  }
  return {
    token: r.token,
    roles: Array.isArray(r.roles) ? r.roles.filter((x): x is string => typeof x === 'string') : [],
    expiresInMs: typeof r.expiresInMs === 'number' ? r.expiresInMs : 0,
  };
}
