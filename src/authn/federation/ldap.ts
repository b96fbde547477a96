import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { guardAttempt } from '../protection/guard.js';
import { signIn } from './ldap-directory.js';
import { settingsOf } from './ldap-settings.js';
import { type Connection, FederationError, type PasswordStrategy, type UpstreamProfile } from './strategy.js';

/**
 * The `ad` strategy: LDAP / Active Directory (docs/federation.md#ad). The proof is a simple
 * bind AS THE USER with the password they typed, over ldaps:// or StartTLS checked against
 * the connection's CA. The user's entry is found by a DN template, or by a search as a
 * service account (`bind_dn` + secret `bind_password`); Gatehouse never binds anonymously,
 * never sends an empty password (an unauthenticated bind succeeds on many directories:
 * decision 257) and never stores the password. Every attempt goes through the brute-force
 * guard like a local password (decision 259).
 */
export const ldapStrategy: PasswordStrategy = {
  kind: 'password',
  authenticate,
};

const MAX_USERNAME = 256;

async function authenticate(
  ctx: AppContext,
  connection: Connection,
  input: { username: string; password: string; actor?: { ip: string | null } },
): Promise<UpstreamProfile> {
  const settings = settingsOf(connection);
  const username = input.username.trim();
  // A malformed username names nobody: refused before the guard and the directory alike.
  if (!username || username.length > MAX_USERNAME || hasControlCharacter(username)) throw wrongCredentials();
  let profile = null as UpstreamProfile | null;
  try {
    await guardAttempt(
      ctx,
      'password',
      // The counters of `ann` at this connection are not those of a local account `ann`.
      { userId: null, login: `${connection.id}:${username}`, ip: input.actor?.ip ?? null, tenantId: connection.tenantId },
      async () => {
        // Never to a bind: with an empty password it is an unauthenticated bind, which many directories let in.
        if (input.password.trim() === '') return false;
        profile = await signIn(ctx, settings, username, input.password);
        return profile !== null;
      },
      () => new AppError('invalid_credentials', 'Wrong username or password'),
    );
  } catch (error) {
    if (error instanceof AppError && error.code === 'invalid_credentials') throw wrongCredentials();
    throw error; // too_many_attempts (429), or a FederationError (still counted as an attempt: decision 259)
  }
  if (!profile) throw wrongCredentials(); // unreachable: the guard passed only when the bind did
  return profile;
}

/** NUL and the other C0 controls, and DEL: never part of a username. */
const hasControlCharacter = (value: string) => [...value].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

const wrongCredentials = () => new FederationError('wrong_credentials', 'Wrong username or password');
