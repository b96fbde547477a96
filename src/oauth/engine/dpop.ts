import { createHash, createHmac, hkdfSync } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, jwtVerify } from 'jose';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';

/**
 * DPoP (RFC 9449) for the grants Gatehouse runs itself (client credentials, password, the
 * MFA grants, grants.ts): the engine checks proofs only in the grants it runs. The same
 * rules as the engine's own (decision 416): one proof per request (`htm`, `htu`, `iat`
 * within five minutes or a server nonce, `jti` never seen on any node: the engine's
 * ReplayDetection store, adapter.ts), and the same nonces, made from the same secret by the
 * same steps, so a nonce the engine gave is good here and the other way round.
 */

export const DPOP_ALGS = ['ES256', 'PS256', 'Ed25519', 'EdDSA'] as const;
/** How far a proof's `iat` may be from now without a nonce, and a nonce's life (the engine's window). */
const STEP_S = 60;
const WINDOW_S = STEP_S * 5;

/** The engine's DPoP nonce secret (features.dPoP.nonceSecret), from the master key: every node has the same. */
export const dpopNonceSecret = (masterKey: Buffer): Buffer => createHmac('sha256', masterKey).update('gatehouse:dpop-nonce').digest();

function nonceAt(secret: Buffer, step: number): string {
  const salt = Buffer.alloc(8);
  salt.writeBigInt64BE(BigInt(step));
  return Buffer.from(hkdfSync('sha256', secret, salt, 'DPoP', 32)).toString('base64url');
}

function nonces(secret: Buffer, now: number): { next: string; valid: Set<string> } {
  const step = Math.floor(now / STEP_S);
  const window = [step - 2, step - 1, step, step + 1, step + 2].map((s) => nonceAt(secret, s));
  return { next: window[3] as string, valid: new Set(window) };
}

/**
 * The key thumbprint a token of this request is bound to, or undefined without a proof
 * (refused when the application requires DPoP). Throws the engine's errors, so the
 * answer is the one its own grants give.
 */
export async function ownGrantProof(provider: Provider, koa: KoaContextWithOIDC, secret: Buffer): Promise<string | undefined> {
  const client = koa.oidc.client as NonNullable<KoaContextWithOIDC['oidc']['client']>;
  const proof = koa.get('DPoP');
  if (!proof) {
    if (client.dpopBoundAccessTokens) throw new errors.InvalidGrant('DPoP proof JWT not provided');
    return undefined;
  }
  const now = Math.floor(Date.now() / 1000);
  const { next, valid } = nonces(secret, now);
  let payload: Record<string, unknown>;
  let jwk: Record<string, unknown>;
  try {
    const verified = await jwtVerify(proof, EmbeddedJWK, { algorithms: [...DPOP_ALGS], typ: 'dpop+jwt' });
    payload = verified.payload as Record<string, unknown>;
    jwk = verified.protectedHeader.jwk as Record<string, unknown>;
  } catch {
    throw new errors.InvalidDpopProof('invalid DPoP key binding');
  }
  if (typeof payload.iat !== 'number' || typeof payload.jti !== 'string' || !payload.jti) {
    throw new errors.InvalidDpopProof('DPoP proof must have iat and jti');
  }
  const nonce = payload.nonce;
  if (nonce === undefined && Math.abs(now - payload.iat) > WINDOW_S) {
    koa.set('DPoP-Nonce', next);
    throw new errors.UseDpopNonce('DPoP proof iat is not recent enough, use a DPoP nonce instead');
  }
  if (payload.htm !== koa.method) throw new errors.InvalidDpopProof('DPoP proof htm mismatch');
  const htu = typeof payload.htu === 'string' ? URL.parse(payload.htu) : null;
  if (htu) {
    htu.hash = '';
    htu.search = '';
  }
  if (htu?.href !== new URL(koa.oidc.urlFor('token')).href) throw new errors.InvalidDpopProof('DPoP proof htu mismatch');
  if (nonce === undefined && client.dpopBoundAccessTokens) {
    koa.set('DPoP-Nonce', next);
    throw new errors.UseDpopNonce('nonce is required in the DPoP proof');
  }
  if (nonce !== undefined && (typeof nonce !== 'string' || !valid.has(nonce))) {
    koa.set('DPoP-Nonce', next);
    throw new errors.UseDpopNonce('invalid nonce in DPoP proof');
  }
  if (nonce !== next) koa.set('DPoP-Nonce', next);
  // The engine's replay store and key (iss = the client), as its own grants check.
  const unique = await provider.ReplayDetection.unique(client.clientId, payload.jti, now + WINDOW_S);
  if (!unique) throw new errors.InvalidGrant('DPoP proof JWT Replay detected');
  return calculateJwkThumbprint(jwk as never);
}

/** What a resource request (`/userinfo`) carries for a DPoP-bound token: its scheme, the proof, the request. */
export interface ResourceRequest {
  scheme: 'bearer' | 'dpop';
  proof: string | undefined;
  method: string;
  /** The URLs the proof's `htu` may name (the endpoint under the issuer, never from the Host header). */
  urls: string[];
}

/**
 * RFC 9449 §7 at a resource Gatehouse serves itself from a JWT (`/userinfo`, userinfo.ts):
 * a token bound to a key (`cnf.jkt`) is used only with the DPoP scheme and a proof of that
 * key for this request (`htm`, `htu`, `ath`, `iat` within the window or a server nonce,
 * `jti` never seen on any node). Returns why it is refused, or undefined.
 */
export async function resourceProofProblem(
  provider: Provider,
  secret: Buffer,
  request: ResourceRequest,
  token: { value: string; jkt: string; clientId: string },
): Promise<string | undefined> {
  if (request.scheme !== 'dpop' || !request.proof) return 'a DPoP-bound token is used with the DPoP scheme and a proof';
  const now = Math.floor(Date.now() / 1000);
  let payload: Record<string, unknown>;
  let jwk: Record<string, unknown>;
  try {
    const verified = await jwtVerify(request.proof, EmbeddedJWK, { algorithms: [...DPOP_ALGS], typ: 'dpop+jwt' });
    payload = verified.payload as Record<string, unknown>;
    jwk = verified.protectedHeader.jwk as Record<string, unknown>;
  } catch {
    return 'invalid DPoP proof';
  }
  if (typeof payload.iat !== 'number' || typeof payload.jti !== 'string' || !payload.jti) return 'DPoP proof must have iat and jti';
  const { valid } = nonces(secret, now);
  if (payload.nonce === undefined ? Math.abs(now - payload.iat) > WINDOW_S : !valid.has(payload.nonce as string)) {
    return 'DPoP proof is not recent enough';
  }
  if (payload.htm !== request.method) return 'DPoP proof htm mismatch';
  const htu = typeof payload.htu === 'string' ? URL.parse(payload.htu) : null;
  if (htu) {
    htu.hash = '';
    htu.search = '';
  }
  if (!htu || !request.urls.some((url) => new URL(url).href === htu.href)) return 'DPoP proof htu mismatch';
  if (payload.ath !== createHash('sha256').update(token.value).digest('base64url')) return 'DPoP proof ath mismatch';
  if ((await calculateJwkThumbprint(jwk as never)) !== token.jkt) return 'DPoP proof key does not match the token';
  if (!(await provider.ReplayDetection.unique(token.clientId, payload.jti, now + WINDOW_S))) return 'DPoP proof JWT Replay detected';
  return undefined;
}
