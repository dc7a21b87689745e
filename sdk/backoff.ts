/** The SDK's backoff is the project's one (shared/backoff.ts). */
export { backoffDelay, delay } from '../shared/backoff.js';
