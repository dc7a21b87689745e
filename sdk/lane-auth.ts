import { KvError, errorFromStatus } from '../shared/errors.js';
import { Op } from '../shared/protocol/ops.js';
import { controlRequest, type RequestFrame, type Response } from '../shared/protocol/frames.js';
import { Status } from '../shared/status.js';
import { AuthClient, authFailedError } from '../shared/auth/index.js';
import type { LaneAuth } from './lane-contract.js';

/**
 * A lane's handshake (DESIGN §9), before any queued request leaves: ask for a challenge
 * naming the principal (so a password principal gets its salt), answer it, and check the
 * server's signature over our nonce against the key the map gives for this node.
 * `send` puts one frame on the wire at once and resolves with its answer.
 */
export async function authenticateLane(auth: LaneAuth, address: string, deadline: number, send: (frame: RequestFrame, deadline: number) => Promise<Response>): Promise<void> {
  const serverKey = auth.serverKeyFor(address);
  const client = new AuthClient({
    credentials: auth.credentials,
    serverPublicKey: serverKey,
    isTrustOnFirstUse: serverKey === null,
    derivedKeys: auth.derivedKeys,
    ...(auth.passwordLimits === undefined ? {} : { passwordLimits: auth.passwordLimits }),
  });
  const challenge = await send(controlRequest(Op.AUTH, { principal: client.principal }), deadline);
  if (challenge.status !== Status.AUTH_NEEDED) throw refusal(challenge, address);
  const answer = client.answer(challenge.extra);
  const verdict = await send(controlRequest(Op.AUTH, { ...answer }), deadline);
  if (verdict.status !== Status.OK) throw refusal(verdict, address);
  if (!client.verifyServer(serverKey, verdict.extra?.serverSignature, verdict.extra?.serverPublicKey)) {
    const err = authFailedError('server-signature');
    throw new KvError(err.code, `${address} could not prove it holds its key`, { ...err.details, node: address });
  }
}

function refusal(r: Response, address: string): KvError {
  const message = typeof r.extra?.message === 'string' ? r.extra.message : 'authentication refused';
  // A node that just started may not have the principal list yet: the handshake ran
  // nothing, so trying again is safe.
  const err = errorFromStatus(r.status, `${address}: ${message}`, { node: address });
  return r.status === Status.UNAVAILABLE || r.status === Status.BUSY ? new KvError(err.code, err.message, { ...err.details, isSafeToRetry: true }) : err;
}
