import { InvalidRequestError, MissingTokenError } from './errors.js';

/** RFC 6750 §2.1 and RFC 9449 §7.1: `Bearer` or `DPoP` (any case), one space or more, then a b64token. */
const CREDENTIALS = /^(Bearer|DPoP) +([A-Za-z0-9\-._~+/]+=*) *$/i;
const SCHEME = /^(Bearer|DPoP)(?: |$)/i;

/** An access token as presented: its scheme and the token. */
export interface PresentedToken {
  scheme: 'Bearer' | 'DPoP';
  token: string;
}

/**
 * The access token of an `Authorization` header, with the `Bearer` or the `DPoP` scheme.
 * No header, or another scheme (`Basic`), is a `MissingTokenError`; one of these schemes
 * without a well-formed token is an `InvalidRequestError`. Tokens in the query string or
 * the body are not accepted.
 */
export function presentedToken(authorization: string | string[] | undefined): PresentedToken {
  if (Array.isArray(authorization)) throw new InvalidRequestError('More than one Authorization header');
  const scheme = authorization ? SCHEME.exec(authorization)?.[1] : undefined;
  if (!authorization || !scheme) throw new MissingTokenError();
  const match = CREDENTIALS.exec(authorization);
  if (!match) throw new InvalidRequestError(`The Authorization header is not a well-formed ${scheme} credential`);
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', token: match[2]! };
}

/**
 * The bearer token of an `Authorization` header. No header, or another scheme (`Basic`,
 * `DPoP`), is a `MissingTokenError`; a `Bearer` header without a well-formed token is an
 * `InvalidRequestError`.
 */
export function bearerToken(authorization: string | string[] | undefined): string {
  if (Array.isArray(authorization)) throw new InvalidRequestError('More than one Authorization header');
  if (!authorization || !/^Bearer(?: |$)/i.test(authorization)) throw new MissingTokenError();
  return presentedToken(authorization).token;
}
