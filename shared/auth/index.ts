/**
 * The auth core (DESIGN §9): identities, principals, roles, the AUTH_NEEDED handshake
 * and credentials files. Pure and synchronous apart from credentials-file.ts; used by
 * nodes, the manager, the proxy and the SDK. See docs/auth.md.
 */
export {
  PUBLIC_KEY_BYTES, SECRET_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES, SALT_BYTES,
  PASSWORD_LIMITS_INTERACTIVE, PASSWORD_LIMITS_MIN,
  generateKeyPair, keyPairFromSeed, derivePasswordKeyPairAsync, publicKeyOf, isConsistentSecretKey, sign, verify, randomBytes, newSalt,
  derivePasswordKeyPair, keyedHash, equalBytes, toHex, fromHex, isHex,
} from './keys.js';
export type { KeyPair, PasswordLimits } from './keys.js';
export {
  ROLES, MAX_PRINCIPAL_NAME_LENGTH, isRole, isPrincipalName, checkPrincipal, encodePrincipal, decodePrincipal,
  decodePrincipals, hasRole, PrincipalTable,
} from './principal.js';
export type { Principal, Role } from './principal.js';
export { ADMIN_ROLE, requiredRole, requiredRoles, isAllowed, missingRole, isPublicOp, roleTable } from './roles.js';
export { NONCE_BYTES, NonceStore } from './nonce-store.js';
export type { NonceLedger, NonceVerdict } from './options.js';
export {
  CLIENT_DOMAIN, SERVER_DOMAIN, MAX_SERVER_ID_BYTES, isServerId, clientTranscript, serverTranscript, parseAuthMessage, parseChallenge,
} from './transcript.js';
export type { AuthChallenge, AuthMessage } from './transcript.js';
export { AuthServer, AuthClient } from './handshake.js';
export type { AuthResult, AuthorizeResult } from './handshake.js';
export { authFailedError, authNeededError, forbiddenError, authReasonOf } from './auth-error.js';
export type { AuthFailureReason, AuthzFailureReason, ClientFailureReason, AuthReason, AuthErrorDetails } from './auth-error.js';
export { NONCE_STORE_DEFAULTS, AUTH_SERVER_DEFAULTS, AUTH_CLIENT_DEFAULTS } from './options.js';
export type { NonceStoreOptions, AuthServerOptions, AuthClientOptions } from './options.js';
export {
  MAX_CREDENTIALS_BYTES, MAX_PASSWORD_LENGTH, keyCredentials, passwordCredentials, parseCredentials, formatCredentials,
} from './credentials.js';
export type { Credentials, KeyCredentials, PasswordCredentials } from './credentials.js';
export { loadCredentials, writeCredentials, loadOrCreateKeyFile } from './credentials-file.js';
export { ServerAuth, authFailureLine } from './server-auth.js';
export type { AuthLog } from './server-auth.js';
export { gateFrame, insecureAuthAnswer } from './frame-gate.js';
