/**
 * The route registry: every module's routes, in one place that nothing imports but the
 * wiring (src/main/gatehouse.ts). The hooks that span the whole server (IP blocks, the
 * OAuth engine's, the protection store's and the change feed's shutdown) are added here too.
 */
import { altchaAssetRoutes } from '../authn/bot-defence/routes.js';
import { federationRoutes } from '../authn/federation/routes.js';
import { devSmsRoutes } from '../authn/mfa/dev-sms-routes.js';
import { mfaRoutes } from '../authn/mfa/routes.js';
import { sessionMfaRoutes } from '../authn/mfa/session-routes.js';
import { passwordPolicyRoutes } from '../authn/passwords/routes.js';
import { unblockPages } from '../authn/protection/pages.js';
import { lockoutRoutes } from '../authn/protection/routes.js';
import { sessionManagementRoutes } from '../authn/sessions/manage-routes.js';
import { sessionRoutes } from '../authn/sessions/routes.js';
import { groupRoutes } from '../directory/groups/routes.js';
import { memberRoutes } from '../directory/memberships/routes.js';
import { permissionRoutes } from '../directory/permissions/routes.js';
import { policyRoutes } from '../directory/policies/routes.js';
import { roleApiPermissionRoutes } from '../directory/roles/api-permission-routes.js';
import { roleRoutes } from '../directory/roles/routes.js';
import { tenantRoutes } from '../directory/tenants/routes.js';
import { accountApiRoutes } from '../flows/account/api.js';
import { accountRoutes } from '../flows/account/routes.js';
import { proveAuth0Otp } from '../flows/auth0/passwordless.js';
import { auth0AuthenticationRoutes } from '../flows/auth0/routes.js';
import { accountEmailRoutes } from '../flows/email-change/routes.js';
import { federationPages } from '../flows/federation/routes.js';
import { forcedPasswordRoutes } from '../flows/forced-change/routes.js';
import { homeRoutes } from '../flows/home/routes.js';
import { invitationRoutes } from '../flows/invitation/api.js';
import { invitationPageRoutes } from '../flows/invitation/routes.js';
import { hostedPageScope } from '../flows/kit/hosted-pages.js';
import { passwordlessRoutes } from '../flows/passwordless/api.js';
import { passwordlessPages } from '../flows/passwordless/routes.js';
import { recoveryRoutes } from '../flows/recovery/api.js';
import { recoveryPageRoutes } from '../flows/recovery/routes.js';
import { signInPages } from '../flows/sign-in/routes.js';
import { registrationRoutes } from '../flows/signup/api.js';
import { signupRoutes } from '../flows/signup/routes.js';
import { apiRoutes } from '../oauth/apis/routes.js';
import { applicationRoutes } from '../oauth/applications/routes.js';
import { createOidc } from '../oauth/engine/index.js';
import { oidcRoutes } from '../oauth/engine/routes.js';
import { keyRoutes } from '../oauth/keys/routes.js';
import { auth0MfaRoutes } from '../oauth/mfa-api/routes.js';
import { initialAccessTokenRoutes } from '../oauth/registration/admin-routes.js';
import { clientRegistrationRoutes } from '../oauth/registration/routes.js';
import { tokenRoutes } from '../oauth/tokens/routes.js';
import { accessReviewRoutes } from '../ops/access-review/routes.js';
import { actionRoutes } from '../ops/actions/routes.js';
import { auditRoutes } from '../ops/audit/routes.js';
import { backupRoutes } from '../ops/backup/routes.js';
import { connectionRoutes } from '../ops/connections/routes.js';
import { incidentRoutes } from '../ops/incidents/routes.js';
import { blockedAddresses } from '../ops/ip-blocks/ip-blocks.js';
import { ipBlockHook, ipBlockRoutes } from '../ops/ip-blocks/routes.js';
import { managementV2Routes } from '../ops/mgmt-v2/routes.js';
import { emailRoutes } from '../ops/outbox/routes.js';
import { userTransferRoutes } from '../ops/transfer/routes.js';
import { userIdentityRoutes } from '../ops/users/identity-routes.js';
import { userRoutes } from '../ops/users/routes.js';
import { webhookRoutes } from '../ops/webhooks/routes.js';
import type { AppContext } from '../platform/context.js';
import { apiReference } from '../platform/http/api-reference.js';
import { healthRoutes, type Readiness } from '../platform/http/health.js';
import { createHttpServer } from '../platform/http/server.js';

export async function createServer(ctx: AppContext, readiness?: Readiness) {
  const blocked = blockedAddresses(ctx);
  const app = await createHttpServer(ctx, ipBlockHook(blocked));
  // A stopping node asks its clients (the balancer) to take each answer's connection elsewhere.
  if (readiness) {
    app.addHook('onRequest', async (_request, reply) => {
      if (readiness.draining) reply.raw.setHeader('connection', 'close');
    });
  }
  await app.register(healthRoutes(ctx, readiness));
  await app.register(keyRoutes(ctx));
  // The passwordless OTP grant is proved by the passwordless flow, a layer above the engine.
  const oidc = createOidc(ctx, { proveOtp: (input, actor) => proveAuth0Otp(ctx, input, actor) });
  app.addHook('onClose', () => oidc.close());
  await app.register(oidcRoutes(ctx, oidc));
  await app.register(clientRegistrationRoutes(ctx));
  // Every flow's hosted pages, in one scope: form bodies, and errors as pages (flows/kit/hosted-pages.ts).
  await app.register(async (pages) => {
    hostedPageScope(pages, ctx);
    await pages.register(signInPages(ctx, oidc));
    forcedPasswordRoutes(pages, ctx, oidc);
    federationPages(pages, ctx, oidc);
    passwordlessPages(pages, ctx, oidc);
    signupRoutes(pages, ctx, oidc);
    recoveryPageRoutes(pages, ctx);
    invitationPageRoutes(pages, ctx);
    accountRoutes(pages, ctx);
    accountEmailRoutes(pages, ctx);
  });
  await app.register(homeRoutes(ctx));
  await app.register(apiReference);
  await app.register(auth0MfaRoutes(ctx));
  await app.register(auth0AuthenticationRoutes(ctx));
  await app.register(altchaAssetRoutes());
  await app.register(unblockPages(ctx));
  await app.register(federationRoutes(ctx));
  app.addHook('onClose', () => ctx.protection.store.close());
  app.addHook('onClose', () => ctx.changes.close());
  await app.register(
    async (api) => {
      api.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
      await api.register(sessionRoutes(ctx));
      await api.register(tokenRoutes(ctx));
      await api.register(tenantRoutes(ctx));
      await api.register(policyRoutes(ctx));
      await api.register(userTransferRoutes(ctx));
      await api.register(userRoutes(ctx));
      await api.register(userIdentityRoutes(ctx));
      await api.register(lockoutRoutes(ctx));
      await api.register(sessionManagementRoutes(ctx));
      await api.register(passwordPolicyRoutes(ctx));
      await api.register(memberRoutes(ctx));
      await api.register(roleRoutes(ctx));
      await api.register(groupRoutes(ctx));
      await api.register(roleApiPermissionRoutes(ctx));
      await api.register(permissionRoutes(ctx));
      await api.register(auditRoutes(ctx));
      await api.register(applicationRoutes(ctx));
      await api.register(initialAccessTokenRoutes(ctx));
      await api.register(apiRoutes(ctx));
      await api.register(emailRoutes(ctx));
      await api.register(backupRoutes(ctx));
      await api.register(webhookRoutes(ctx));
      await api.register(actionRoutes(ctx));
      await api.register(connectionRoutes(ctx));
      await api.register(incidentRoutes(ctx));
      await api.register(ipBlockRoutes(ctx, blocked));
      await api.register(accessReviewRoutes(ctx));
      await api.register(sessionMfaRoutes(ctx));
      await api.register(mfaRoutes(ctx));
      await api.register(accountApiRoutes(ctx));
      await api.register(devSmsRoutes(ctx));
      await api.register(registrationRoutes(ctx));
      await api.register(passwordlessRoutes(ctx));
      await api.register(invitationRoutes(ctx));
      await api.register(recoveryRoutes(ctx));
    },
    { prefix: '/api/v1' },
  );
  // Auth0's Management API v2 (issue 17.2): its own error shape, the admin API's guard and scopes.
  await app.register(managementV2Routes(ctx), { prefix: '/api/v2' });
  return app;
}
