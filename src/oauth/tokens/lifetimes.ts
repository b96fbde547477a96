/**
 * Access tokens live 10 minutes (docs/api.md): the OIH flow's, and those for an API without
 * a lifetime of its own. The key set reads it too: a retired key stays published until the
 * longest-lived token it may have signed has expired (src/oauth/keys/queries.ts).
 */
export const ACCESS_TOKEN_TTL_S = 600;
