import { randomBytes } from 'node:crypto';
import { assertOutranks, inScope, listedTenant, owningTenant, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { clientSecretDigest, randomToken } from '../../platform/crypto/secrets.js';
import type { Db } from '../../platform/db/database.js';
import { DEFAULT_LIMIT, type Page, type PageRequest, paginate } from '../../platform/db/pagination.js';
import type { Application, ApplicationType, MfaPolicy } from '../../platform/db/schema.js';
import { AppError, notFound } from '../../platform/errors.js';
import { applicationDestinations, destinationProblem } from '../../platform/http/destinations.js';
import { checkJwksUriDestination, checkModern, DEFAULT_MODERN, type ModernInput, modernColumns, modernOf } from './modern.js';
import {
  checkBackchannelLogoutUri,
  checkGrantTypes,
  checkRedirectNeeded,
  checkRedirectUris,
  checkWebOrigins,
  defaultGrantTypes,
  type GrantType,
  isConfidential,
} from './rules.js';

export interface ApplicationInput extends ModernInput {
  name: string;
  type: ApplicationType;
  redirect_uris?: string[];
  post_logout_redirect_uris?: string[];
  /** Origins that may receive `response_mode=web_message` answers (Auth0's Allowed Web Origins), exact. */
  web_origins?: string[];
  grant_types?: GrantType[];
  first_party?: boolean;
  organization_required?: boolean;
  /** Self-registration through this application, when its tenant allows sign-up (default true). */
  signup_enabled?: boolean;
  /** off, optional or required; null (the default): the tenant's MFA policy. */
  mfa_policy?: MfaPolicy | null;
  /** OIDC Back-Channel Logout: where logout tokens are POSTed; null removes it. */
  backchannel_logout_uri?: string | null;
  /** System scope only: the owning tenant; absent = the system tenant. */
  tenant?: string;
}

/** The type and client_id are fixed at creation; the rest may change. */
export type ApplicationPatch = Partial<Omit<ApplicationInput, 'type' | 'tenant'>>;

export interface ApplicationFilter {
  tenant?: string | undefined;
  type?: ApplicationType | undefined;
  client_id?: string | undefined;
}

/** An application together with its client secret, in the one answer that shows the secret. */
export interface WithSecret {
  application: Application;
  /** Only for confidential types (web, m2m); never stored, never shown again. */
  clientSecret?: string;
}

/** 192 random bits, base64url: 32 URL-safe characters. */
const newClientId = () => randomBytes(24).toString('base64url');
const newClientSecret = () => randomToken('ghcs');

/** In creation order; a system administrator without `tenant` sees every tenant's. */
export async function listApplications(
  ctx: AppContext,
  scope: Scope,
  filter: ApplicationFilter,
  page: PageRequest,
): Promise<Page<Application>> {
  const tenantId = listedTenant(scope, filter.tenant);
  return paginate(
    page,
    DEFAULT_LIMIT,
    (a) => a.id,
    async (fetch, after) =>
      ctx.db
        .selectFrom('applications')
        .selectAll()
        .$if(tenantId !== undefined, (q) => q.where('tenant_id', '=', tenantId as string))
        .$if(filter.type !== undefined, (q) => q.where('type', '=', filter.type as ApplicationType))
        .$if(filter.client_id !== undefined, (q) => q.where('client_id', '=', filter.client_id as string))
        .$if(after !== undefined, (q) => q.where('id', '>', after as string))
        .orderBy('id')
        .limit(fetch)
        .execute(),
  );
}

/** The application, if the scope reaches it; another tenant's is 404 (decision 5). */
export async function getApplication(ctx: AppContext, scope: Scope, id: string): Promise<Application> {
  const application = await ctx.db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
  if (!application || !inScope(scope, application.tenant_id)) throw notFound('Application');
  return application;
}

/**
 * A back-channel logout URI as it may be stored: well formed (rules.ts), and on a host
 * Gatehouse may call (in production no loopback, private, link-local or other internal
 * address, as for webhooks; decision 204). Checked again when the notice is sent.
 */
async function checkedBackchannelUri(ctx: AppContext, uri: string | null): Promise<string | null> {
  const checked = checkBackchannelLogoutUri(uri, ctx.config.production);
  if (checked === null) return null;
  const problem = await destinationProblem(applicationDestinations(ctx.config), new URL(checked));
  if (problem) {
    const why = problem === 'unresolvable' ? 'does not resolve' : 'leads to a loopback, private, link-local or otherwise internal address';
    throw new AppError('destination_not_allowed', `backchannel_logout_uri: "${checked}" ${why}`, {
      field: 'backchannel_logout_uri',
      uri: checked,
      reason: problem,
    });
  }
  return checked;
}

export async function createApplication(ctx: AppContext, scope: Scope, actor: Actor, input: ApplicationInput): Promise<WithSecret> {
  const grantTypes = checkGrantTypes(input.type, input.grant_types ?? defaultGrantTypes(input.type));
  const redirectUris = checkRedirectUris(input.type, 'redirect_uris', input.redirect_uris ?? []);
  const logoutUris = checkRedirectUris(input.type, 'post_logout_redirect_uris', input.post_logout_redirect_uris ?? []);
  checkRedirectNeeded(grantTypes, redirectUris);
  const webOrigins = checkWebOrigins(input.type, input.web_origins ?? []);
  const backchannelUri = await checkedBackchannelUri(ctx, input.backchannel_logout_uri ?? null);
  await checkJwksUriDestination(ctx, input.jwks_uri);
  const modern = await checkModern(ctx, input.type, grantTypes, DEFAULT_MODERN, input);
  const clientSecret = isConfidential(input.type) ? newClientSecret() : undefined;
  const now = ctx.clock.now();
  return ctx.db.transaction().execute(async (trx) => {
    const tenantId = owningTenant(scope, input.tenant) ?? (await systemTenantId(trx));
    if (!(await trx.selectFrom('tenants').select('id').where('id', '=', tenantId).executeTakeFirst())) throw notFound('Tenant');
    const application = await trx
      .insertInto('applications')
      .values({
        id: ctx.ids.next(),
        client_id: newClientId(),
        tenant_id: tenantId,
        name: input.name,
        type: input.type,
        first_party: input.first_party ?? true,
        client_secret_digest: clientSecret === undefined ? null : clientSecretDigest(ctx.masterKey, clientSecret),
        redirect_uris: redirectUris,
        post_logout_redirect_uris: logoutUris,
        web_origins: webOrigins,
        grant_types: grantTypes,
        organization_required: input.organization_required ?? false,
        signup_enabled: input.signup_enabled ?? true,
        mfa_policy: input.mfa_policy ?? null,
        backchannel_logout_uri: backchannelUri,
        ...modernColumns(modern),
        created_at: now,
        updated_at: now,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.application.created',
      actor,
      tenantId,
      target: { type: 'application', id: application.id },
      details: { name: application.name, type: application.type, client_id: application.client_id, grant_types: grantTypes },
    });
    return { application, ...(clientSecret !== undefined && { clientSecret }) };
  });
}

export async function updateApplication(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  id: string,
  patch: ApplicationPatch,
): Promise<Application> {
  // Resolved before the row is locked: a slow name server must not hold the lock.
  const backchannelUri =
    patch.backchannel_logout_uri === undefined ? undefined : await checkedBackchannelUri(ctx, patch.backchannel_logout_uri);
  await checkJwksUriDestination(ctx, patch.jwks_uri);
  return ctx.db.transaction().execute(async (trx) => {
    const current = await lockApplication(trx, scope, id);
    // A new key or way to authenticate is a new credential: as with rotate-secret, only a caller
    // whose permissions cover the application's admin grant may set it (decision 400), or a
    // narrow administrator would give a broader machine its own key and act as it.
    if (patch.token_endpoint_auth_method !== undefined || patch.jwks !== undefined || patch.jwks_uri !== undefined) {
      const adminGrant = await trx
        .selectFrom('application_admin_grants')
        .select('permissions')
        .where('application_id', '=', id)
        .executeTakeFirst();
      if (adminGrant) assertOutranks(scope, adminGrant.permissions);
    }
    const grantTypes = checkGrantTypes(current.type, patch.grant_types ?? (current.grant_types as GrantType[]));
    const redirectUris = checkRedirectUris(current.type, 'redirect_uris', patch.redirect_uris ?? current.redirect_uris);
    const logoutUris = checkRedirectUris(
      current.type,
      'post_logout_redirect_uris',
      patch.post_logout_redirect_uris ?? current.post_logout_redirect_uris,
    );
    checkRedirectNeeded(grantTypes, redirectUris);
    const webOrigins = checkWebOrigins(current.type, patch.web_origins ?? current.web_origins);
    const modern = await checkModern(ctx, current.type, grantTypes, modernOf(current), patch);
    const updated = await trx
      .updateTable('applications')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.first_party !== undefined && { first_party: patch.first_party }),
        ...(patch.organization_required !== undefined && { organization_required: patch.organization_required }),
        ...(patch.signup_enabled !== undefined && { signup_enabled: patch.signup_enabled }),
        ...(patch.mfa_policy !== undefined && { mfa_policy: patch.mfa_policy }),
        grant_types: grantTypes,
        redirect_uris: redirectUris,
        post_logout_redirect_uris: logoutUris,
        web_origins: webOrigins,
        ...(backchannelUri !== undefined && { backchannel_logout_uri: backchannelUri }),
        ...modernColumns(modern),
        updated_at: ctx.clock.now(),
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.application.modified',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'application', id },
      details: { fields: Object.keys(patch), ...(patch.grant_types && { grant_types: grantTypes }) },
    });
    return updated;
  });
}

export async function deleteApplication(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const application = await lockApplication(trx, scope, id);
    // A machine's admin grant goes with it: only a caller covering that grant removes it (decision 20).
    const adminGrant = await trx
      .selectFrom('application_admin_grants')
      .select('permissions')
      .where('application_id', '=', id)
      .executeTakeFirst();
    if (adminGrant) assertOutranks(scope, adminGrant.permissions);
    await trx.deleteFrom('applications').where('id', '=', id).execute();
    await recordAudit(trx, ctx, {
      action: 'iam.application.deleted',
      actor,
      tenantId: application.tenant_id,
      target: { type: 'application', id },
      details: { name: application.name, client_id: application.client_id },
    });
  });
}

/** A new client secret for a confidential application; the old one stops working at once. */
export async function rotateClientSecret(ctx: AppContext, scope: Scope, actor: Actor, id: string): Promise<Required<WithSecret>> {
  return ctx.db.transaction().execute(async (trx) => {
    const current = await lockApplication(trx, scope, id);
    if (!isConfidential(current.type)) {
      throw new AppError('public_client', `A ${current.type} application is a public client and has no secret`);
    }
    // Whoever holds the new secret holds the application's admin grant (decision 400): only a
    // caller whose own permissions cover that grant may mint it, or a narrow administrator
    // would rotate the secret of a broader machine and act as it.
    const adminGrant = await trx
      .selectFrom('application_admin_grants')
      .select('permissions')
      .where('application_id', '=', id)
      .executeTakeFirst();
    if (adminGrant) assertOutranks(scope, adminGrant.permissions);
    const clientSecret = newClientSecret();
    const application = await trx
      .updateTable('applications')
      .set({ client_secret_digest: clientSecretDigest(ctx.masterKey, clientSecret), updated_at: ctx.clock.now() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.application.secretRotated',
      actor,
      tenantId: current.tenant_id,
      target: { type: 'application', id },
      details: { client_id: current.client_id },
    });
    return { application, clientSecret };
  });
}

/** Reads the application for a change, locked until the transaction ends, so concurrent changes serialize. */
export async function lockApplication(trx: Db, scope: Scope, id: string): Promise<Application> {
  const application = await trx.selectFrom('applications').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  if (!application || !inScope(scope, application.tenant_id)) throw notFound('Application');
  return application;
}
