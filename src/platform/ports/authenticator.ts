import type { Session, Tenant, User } from '../db/schema.js';

/**
 * The authentication port the HTTP guards call (src/platform/http/guards.ts,
 * src/directory/permissions/guard.ts): declared here because the context carries it
 * (src/platform/context.ts). Sessions are src/authn's, access tokens src/oauth's;
 * src/main/gatehouse.ts wires them in once.
 */

/** A live session and its active user. */
export interface ActiveSession {
  session: Session;
  user: User;
}

/** A machine application that calls the admin API with its own client-credentials token (decision 400). */
export interface MachineCaller {
  /** The application's id (uuid). */
  id: string;
  client_id: string;
  name: string;
}

/**
 * Who calls the admin API with an access token, acting in the token's tenant: a live
 * session's (or OAuth grant's) user, or a machine application granted the admin API
 * (`client`, decision 400); exactly one of the two.
 */
export interface Caller {
  user?: User;
  client?: MachineCaller;
  /** The Gatehouse session behind a token of the OIH flow; none behind an OAuth token. */
  session?: Session;
  tenant: Tenant;
  /** The user's effective permissions in the tenant (a machine's: its admin grant), computed afresh on this request (not read from the token). */
  held: ReadonlySet<string>;
}

export interface Authenticator {
  /** The session a session token opens, if it is live and its user active; pushes the idle deadline forward. */
  session(token: string): Promise<ActiveSession | undefined>;
  /** Whether the user has a confirmed second factor (a recovery code does not count). */
  hasSecondFactor(userId: string): Promise<boolean>;
  /**
   * The caller of an access token, checked on every request (no cache): the signature and
   * lifetime, a live session or grant, an active user, an active tenant and a membership.
   * Throws AppError('invalid_token') when one fails.
   */
  caller(accessToken: string): Promise<Caller>;
}
