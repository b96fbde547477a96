import type { Trigger } from '../../platform/ports/actions.js';

/** Auth0's handler name and `api` of each trigger (decision 343). */
export const TRIGGER_SHAPES: Record<Trigger, { handler: string; api: string[] }> = {
  'post-login': {
    handler: 'onExecutePostLogin',
    api: [
      'access.deny',
      'accessToken.setCustomClaim',
      'idToken.setCustomClaim',
      'multifactor.enable',
      'user.setAppMetadata',
      'user.setUserMetadata',
    ],
  },
  'pre-user-registration': {
    handler: 'onExecutePreUserRegistration',
    api: ['access.deny', 'user.setUserMetadata', 'user.setAppMetadata'],
  },
  'post-user-registration': { handler: 'onExecutePostUserRegistration', api: [] },
  'credentials-exchange': { handler: 'onExecuteCredentialsExchange', api: ['access.deny', 'accessToken.setCustomClaim'] },
  'post-change-password': { handler: 'onExecutePostChangePassword', api: [] },
  'send-phone-message': { handler: 'onExecuteSendPhoneMessage', api: [] },
};

/**
 * Claims an action may not set: those the server's own checks stand on (who, for whom, until
 * when, with which rights and in which organization). Auth0 refuses the registered ones too.
 */
export const RESERVED_CLAIMS = new Set([
  'iss',
  'sub',
  'aud',
  'exp',
  'nbf',
  'iat',
  'jti',
  'azp',
  'client_id',
  'scope',
  'scp',
  'permissions',
  'org_id',
  'org_name',
  'tenant',
  'tenant_id',
  'acr',
  'amr',
  'auth_time',
  'nonce',
  'at_hash',
  'c_hash',
  'sid',
  'cnf',
  'act',
  'may_act',
  'roles',
  'gty',
  'gid',
  'email',
  'email_verified',
]);
