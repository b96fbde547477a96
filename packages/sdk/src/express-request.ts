/**
 * Opt-in typing of `req.auth` for Express: `import '@gatehouse/sdk/express-request';` once in
 * the app merges `auth?: AuthInfo` into Express's `Request`. Not done by
 * `@gatehouse/sdk/express` itself, since middleware such as Auth0's express-oauth2-jwt-bearer
 * declares a `req.auth` of another type and TypeScript allows only one.
 */
import type { AuthInfo } from './auth-info.js';

declare global {
  namespace Express {
    interface Request {
      /** Set by `requireAuth` of `@gatehouse/sdk/express` from the verified access token. */
      auth?: AuthInfo;
    }
  }
}
