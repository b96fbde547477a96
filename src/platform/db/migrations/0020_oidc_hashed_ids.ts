/**
 * The OAuth engine's rows keep no usable credential (decision 202): the id of every model
 * but `Grant` becomes its SHA-256, base64url without padding, as `storedId`
 * (src/oidc/adapter.ts) computes it, and the payload loses its `jti` (the id again). The
 * rows whose payload holds other credentials (a device code's user code, an interaction's
 * resume URL, device code and session cookie) live an hour at most and cannot be sealed
 * here (the master key is not in the database): they are deleted, so a device flow or a
 * sign-in in progress during the upgrade starts again.
 */
export const up = [
  `delete from oidc_models where model in ('DeviceCode', 'Interaction', 'PushedAuthorizationRequest', 'BackchannelAuthenticationRequest')`,
  `update oidc_models
     set id = rtrim(translate(encode(sha256(convert_to(id, 'UTF8')), 'base64'), '+/', '-_'), '='),
         payload = payload - 'jti'
   where model <> 'Grant'`,
];
