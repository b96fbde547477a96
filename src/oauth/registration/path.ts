/** RFC 7591/7592: where applications register (Gatehouse's endpoint, routes.ts; decision 422), listed in discovery. */
export const REGISTRATION_PATH = '/oidc/register';
