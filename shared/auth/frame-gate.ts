import { ErrorCode } from '../errors.js';
import { Op } from '../protocol/ops.js';
import { errorAnswer, extraAnswer, type Request } from '../protocol/frames.js';
import { Status } from '../status.js';
import type { AuthServer } from './handshake.js';
import { authFailureLine, type ServerAuth } from './server-auth.js';

/** A response frame `[id, status, value, cas, flags, extra]`. */
type Frame = unknown[];

/**
 * Auth in front of the data protocol (DESIGN §9), shared by nodes and the proxy. AUTH
 * frames run the handshake: `extra` without a signature asks for a challenge (naming a
 * principal gets its salt), with one it is the answer. Any other op needs an
 * authenticated principal holding the op's roles: AUTH_NEEDED carries a fresh challenge,
 * FORBIDDEN names the missing role.
 * @returns the answer when the frame must not run, null when it may
 */
export function gateFrame(shared: ServerAuth, conn: AuthServer, req: Request, who: string, remote: string): Frame | null {
  if (req.op === Op.AUTH) return handshake(shared, conn, req, who, remote);
  const verdict = conn.authorize(req.op);
  if (verdict.ok) return null;
  const e = verdict.error;
  if (e.code === ErrorCode.AUTH_NEEDED) {
    if (conn.isLocked) return errorAnswer(req.id, Status.AUTH_FAILED, 'authentication failed');
    return extraAnswer(req.id, Status.AUTH_NEEDED, { message: e.message, ...conn.challenge() });
  }
  return errorAnswer(req.id, Status.FORBIDDEN, e.message);
}

/** The answer to an AUTH frame on a server running `--insecure`. */
export function insecureAuthAnswer(req: Request, who: string): Frame {
  return errorAnswer(req.id, Status.BAD_REQUEST, `this ${who} runs --insecure: there is nothing to authenticate`);
}

function handshake(shared: ServerAuth, conn: AuthServer, req: Request, who: string, remote: string): Frame {
  const m = req.auth ?? {};
  if (!shared.hasPrincipals) {
    // Managed and the principals have not arrived yet: come back shortly.
    return extraAnswer(req.id, Status.UNAVAILABLE, { message: `this ${who} has not received the principals yet`, retryAfterMs: 100 });
  }
  if (m.signature === undefined) {
    if (conn.isLocked) return errorAnswer(req.id, Status.AUTH_FAILED, 'authentication failed');
    return extraAnswer(req.id, Status.AUTH_NEEDED, { ...conn.challenge(typeof m.principal === 'string' ? m.principal : undefined) });
  }
  const r = conn.respond(m);
  if (r.ok) return extraAnswer(req.id, Status.OK, { serverSignature: r.serverSignature, serverPublicKey: r.serverPublicKey, roles: [...r.principal.roles] });
  shared.log(authFailureLine(`pandakv ${who}`, remote, m.principal, r.reason));
  return errorAnswer(req.id, Status.AUTH_FAILED, r.error.message);
}
