import {
  type CryptoKey,
  calculateJwkThumbprint,
  decodeProtectedHeader,
  EmbeddedJWK,
  errors,
  type JWK,
  type JWTPayload,
  jwtVerify,
} from 'jose';
import { InvalidDPoPProofError } from './errors.js';
import { createReplayCache } from './replay-cache.js';

/**
 * Verification of DPoP proofs (RFC 9449 §4.3 and §7) at a resource server: the proof in the
 * `DPoP` header must be a `dpop+jwt` signed, with an allowed asymmetric algorithm, by the
 * public key in its own `jwk` header; name the request's method (`htm`) and URL (`htu`,
 * without query and fragment); be fresh (`iat`); carry the hash of the access token (`ath`);
 * be signed by the key the token is bound to (`cnf.jkt`, the key's SHA-256 JWK thumbprint);
 * and be used once (`jti`, remembered while the proof could still pass the `iat` check).
 * All JOSE work is jose's.
 */

/** Proof algorithms accepted by default: asymmetric only, so `none` and HMAC never verify. */
export const DPOP_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
] as const;
export type DPoPAlgorithm = (typeof DPOP_ALGORITHMS)[number];

export interface DPoPOptions {
  /** Refuse tokens that are not DPoP-bound (bearer tokens) on this API. Default false: both are accepted, bound tokens only with their proof. */
  required?: boolean;
  /** Proof signing algorithms accepted (a subset of `DPOP_ALGORITHMS`); sent as the challenge's `algs`. Default: all of them. */
  algorithms?: DPoPAlgorithm[];
  /** How old a proof's `iat` may be, in seconds. Default 60. */
  maxAge?: number;
  /** Leeway for the proof's `iat`, both ways, in seconds. Default 5. */
  clockTolerance?: number;
  /** How many proofs (`jti`s) the replay cache holds. Default 100,000. */
  replayCacheSize?: number;
  /**
   * The URL clients call this API at, when a proxy in front changes the origin or strips a
   * path prefix: the proof's `htu` is compared with this base followed by the request's path.
   * Default: the request's own URL, as the adapters see it.
   */
  baseUrl?: string | URL;
}

export const DPOP_MAX_AGE_S = 60;
export const DPOP_CLOCK_TOLERANCE_S = 5;
export const DPOP_REPLAY_CACHE_SIZE = 100_000;
const MAX_JTI_LENGTH = 256;
const PROOF_KEYS_MAX = 1024;
const MAX_KEPT_HEADER_LENGTH = 4096;

interface ProofKey {
  key: CryptoKey;
  /** The key's SHA-256 JWK thumbprint (RFC 7638), compared with the token's `cnf.jkt`. */
  jkt: string;
}

/** What the proof is checked against: the request as the client made it. */
export interface ProofContext {
  method: string;
  url: string | URL;
  /** The `DPoP` header(s) of the request. */
  proof: string | string[] | undefined;
  /** The access token presented with the proof. */
  accessToken: string;
  /** The token's `cnf.jkt`. */
  jkt: string;
}

export interface ProofVerifier {
  readonly algorithms: readonly string[];
  verify(context: ProofContext): Promise<void>;
}

export function createProofVerifier(options: DPoPOptions = {}): ProofVerifier {
  const algorithms = options.algorithms ?? [...DPOP_ALGORITHMS];
  const unsupported = algorithms.filter((alg) => !(DPOP_ALGORITHMS as readonly string[]).includes(alg));
  if (algorithms.length === 0 || unsupported.length > 0) {
    throw new TypeError(
      `createVerifier: "dpop.algorithms" must be asymmetric (${DPOP_ALGORITHMS.join(', ')}); got ${unsupported.join(', ') || 'none'}`,
    );
  }
  const maxAge = options.maxAge ?? DPOP_MAX_AGE_S;
  const clockTolerance = options.clockTolerance ?? DPOP_CLOCK_TOLERANCE_S;
  for (const [name, value] of [
    ['maxAge', maxAge],
    ['clockTolerance', clockTolerance],
  ] as const) {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`createVerifier: "dpop.${name}" must be a number of seconds`);
  }
  const baseUrl = options.baseUrl === undefined ? undefined : new URL(options.baseUrl).href.replace(/\/+$/, '');
  const allowed = new Set<string>(algorithms);
  // A proof passes the iat check until iat + maxAge + clockTolerance: its jti is kept that long.
  const replays = createReplayCache(options.replayCacheSize ?? DPOP_REPLAY_CACHE_SIZE, maxAge + clockTolerance);
  const proofKeys = new Map<string, ProofKey>();

  /** The URL the proof must name: scheme, host, port and path, without query and fragment (RFC 9449 §4.3 item 9). */
  function expectedUrl(url: string | URL): string | undefined {
    if (!URL.canParse(String(url))) return undefined; // e.g. a Host header that makes no URL: no proof can name it
    const requested = new URL(url);
    return baseUrl === undefined ? withoutQuery(requested) : `${baseUrl}${requested.pathname}`;
  }

  /**
   * The proof's checked header: `typ` and `alg` allowed, the `jwk` a public key (imported by
   * jose's EmbeddedJWK, which refuses private parts), with its thumbprint. A client signs
   * its proofs with one key, so its header repeats: kept by the header's encoded form (the
   * same bytes give the same answer), a handful of them, so most proofs skip the key import
   * and the thumbprint.
   */
  async function proofKey(proof: string): Promise<ProofKey> {
    const encoded = proof.slice(0, proof.indexOf('.'));
    const kept = proofKeys.get(encoded);
    if (kept) return kept;
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(proof);
    } catch (error) {
      throw new InvalidDPoPProofError('malformed', undefined, { cause: error });
    }
    if (typeof header.typ !== 'string' || header.typ.toLowerCase() !== 'dpop+jwt') throw new InvalidDPoPProofError('wrong_type');
    if (typeof header.alg !== 'string' || !allowed.has(header.alg)) throw new InvalidDPoPProofError('alg_not_allowed');
    let found: ProofKey;
    try {
      found = { key: await EmbeddedJWK(header, undefined as never), jkt: await calculateJwkThumbprint(header.jwk as JWK, 'sha256') };
    } catch (error) {
      throw new InvalidDPoPProofError('bad_key', undefined, { cause: error });
    }
    if (encoded.length <= MAX_KEPT_HEADER_LENGTH) {
      if (proofKeys.size >= PROOF_KEYS_MAX) proofKeys.delete(proofKeys.keys().next().value as string);
      proofKeys.set(encoded, found);
    }
    return found;
  }

  async function verify({ method, url, proof, accessToken, jkt }: ProofContext): Promise<void> {
    if (proof === undefined || proof === '') throw new InvalidDPoPProofError('missing');
    if (typeof proof !== 'string') throw new InvalidDPoPProofError('malformed', 'more than one DPoP header');
    const known = await proofKey(proof);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(proof, known.key, {
        algorithms,
        maxTokenAge: maxAge,
        clockTolerance,
        requiredClaims: ['jti', 'htm', 'htu', 'iat', 'ath'],
      }));
    } catch (error) {
      throw translate(error);
    }
    const { jti, htm, htu, ath, iat } = payload as JWTPayload & { htm?: unknown; htu?: unknown; ath?: unknown };
    if (typeof jti !== 'string' || jti === '' || jti.length > MAX_JTI_LENGTH) throw new InvalidDPoPProofError('malformed', 'jti');
    if (typeof htm !== 'string' || typeof htu !== 'string' || typeof ath !== 'string') throw new InvalidDPoPProofError('malformed');
    if (htm !== method) throw new InvalidDPoPProofError('wrong_method');
    // Both sides normalized by the URL parser (RFC 3986 §6.2.2-6.2.3: case of scheme and host, default port, dot segments).
    const expected = expectedUrl(url);
    if (expected === undefined || !URL.canParse(htu) || withoutQuery(new URL(htu)) !== expected) {
      throw new InvalidDPoPProofError('wrong_url');
    }
    if (ath !== (await sha256(accessToken))) throw new InvalidDPoPProofError('wrong_ath');
    if (known.jkt !== jkt) throw new InvalidDPoPProofError('wrong_key');
    // Last, so that only a proof that passed every other check takes a place in the cache.
    if (!replays.use(`${jkt} ${jti}`, iat as number, Math.floor(Date.now() / 1000))) throw new InvalidDPoPProofError('replayed');
  }

  return { algorithms, verify };
}

const withoutQuery = (url: URL) => `${url.origin}${url.pathname}`;

/** Node's crypto when the runtime has it (synchronous, some 30 times cheaper than a Web Crypto digest for one short value). */
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => { createHash?: (alg: string) => NodeHash } | undefined } }
).process?.getBuiltinModule?.('node:crypto');
interface NodeHash {
  update(value: string): NodeHash;
  digest(encoding: 'base64url'): string;
}

/** base64url(SHA-256(ASCII(value))): RFC 9449's `ath`. Node's crypto, else Web Crypto, so the SDK runs outside Node too. */
export async function sha256(value: string): Promise<string> {
  if (nodeCrypto?.createHash) return nodeCrypto.createHash('sha256').update(value).digest('base64url');
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(value)));
  let binary = '';
  for (const byte of digest) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function translate(error: unknown): InvalidDPoPProofError {
  if (error instanceof errors.JWTExpired) {
    return new InvalidDPoPProofError(error.claim === 'iat' ? 'stale' : 'malformed', error.claim === 'iat' ? undefined : error.claim, {
      cause: error,
    });
  }
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.reason === 'missing') return new InvalidDPoPProofError('missing_claim', error.claim, { cause: error });
    if (error.claim === 'iat') return new InvalidDPoPProofError('not_yet_valid', undefined, { cause: error });
    return new InvalidDPoPProofError('malformed', error.claim, { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new InvalidDPoPProofError('alg_not_allowed', undefined, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed)
    return new InvalidDPoPProofError('bad_signature', undefined, { cause: error });
  return new InvalidDPoPProofError('malformed', undefined, { cause: error });
}
