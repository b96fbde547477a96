import { ldapStrategy } from './ldap.js';
import { oauth2Strategy } from './oauth2.js';
import { oidcStrategy } from './oidc.js';
import { PRESETS } from './presets.js';
import { samlStrategy } from './saml.js';
import type { PasswordStrategy, RedirectStrategy, Strategy } from './strategy.js';

/**
 * The strategy modules, by the strategy name a connection names (src/authn/federation/
 * strategy.ts). Each strategy is one module with the same small interface; nothing else
 * switches on the strategy name. The table names every strategy: a new name in
 * STRATEGIES without its module does not compile.
 *
 * Where each comes from:
 *   oidc              → ./oidc.ts     (oidcStrategy)
 *   oauth2            → ./oauth2.ts   (oauth2Strategy)
 *   the presets       → ./presets.ts  (PRESETS: google-oauth2, windowslive, waad, github, apple, facebook)
 *   samlp             → ./saml.ts     (samlStrategy)
 *   ad                → ./ldap.ts     (ldapStrategy)
 */
const STRATEGY_MODULES: Record<Strategy, RedirectStrategy | PasswordStrategy> = {
  oidc: oidcStrategy,
  oauth2: oauth2Strategy,
  ...PRESETS,
  samlp: samlStrategy,
  ad: ldapStrategy,
};

/** The strategy of a connection (undefined only for a name outside STRATEGIES, which connectionOf refuses already). */
export function strategyOf(connection: { strategy: Strategy }): RedirectStrategy | PasswordStrategy | undefined {
  return STRATEGY_MODULES[connection.strategy];
}
