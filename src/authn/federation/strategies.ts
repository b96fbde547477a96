import { ldapStrategy } from './ldap.js';
import { oauth2Strategy } from './oauth2.js';
import { oidcStrategy } from './oidc.js';
import { samlStrategy } from './saml.js';
import type { PasswordStrategy, RedirectStrategy, Strategy } from './strategy.js';

/**
 * The strategy modules, by the strategy name a connection names (src/authn/federation/
 * strategy.ts). Each strategy is one module with the same small interface; nothing else
 * switches on the strategy name. A strategy not listed here is refused as `misconfigured`
 * (a connection of it can be stored but not used until its module is in this table).
 *
 * Where each comes from:
 *   oidc              → ./oidc.ts     (oidcStrategy)
 *   oauth2            → ./oauth2.ts   (oauth2Strategy)
 *   the presets       → ./presets.ts  (google-oauth2, windowslive, waad, github, apple, facebook: not merged yet)
 *   samlp             → ./saml.ts     (samlStrategy)
 *   ad                → ./ldap.ts     (ldapStrategy)
 */
const STRATEGY_MODULES: Partial<Record<Strategy, RedirectStrategy | PasswordStrategy>> = {
  oidc: oidcStrategy,
  oauth2: oauth2Strategy,
  samlp: samlStrategy,
  ad: ldapStrategy,
};

/** The strategy of a connection; undefined when no module for it is built in. */
export function strategyOf(connection: { strategy: Strategy }): RedirectStrategy | PasswordStrategy | undefined {
  return STRATEGY_MODULES[connection.strategy];
}
