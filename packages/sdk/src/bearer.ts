import { InvalidRequestError, MissingTokenError } from './errors.js';

/** RFC 6750 §2.1: `Bearer` (any case), one space or more, then a b64token. */
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * The bearer token of an `Authorization` header. No header, or another scheme (`Basic`),
 * is a `MissingTokenError`; a `Bearer` header without a well-formed token is an
 * `InvalidRequestError`. Tokens in the query string or the body are not accepted.
 */
export function bearerToken(authorization: string | string[] | undefined): string {
  if (Array.isArray(authorization)) throw new InvalidRequestError('More than one Authorization header');
  if (!authorization || !/^Bearer(?: |$)/i.test(authorization)) throw new MissingTokenError();
  const match = BEARER.exec(authorization);
  if (!match) throw new InvalidRequestError('The Authorization header is not a well-formed Bearer credential');
  return match[1]!;
}
