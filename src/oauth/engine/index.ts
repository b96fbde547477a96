import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { MfaTarget } from '../../authn/mfa/index.js';
import { loginClaims } from '../../authn/mfa/sign-in-step.js';
import { isDatabaseConnection } from '../../authn/passwords/connection.js';
import { createAuditBuffer } from '../../platform/audit/buffer.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import type { Organization } from '../tokens/organizations.js';
import { gatehouseClient } from './clients.js';
import { dpopNonceSecret, type ResourceRequest, resourceProofProblem } from './dpop.js';
import { type IntrospectionAnswer, introspectJwt } from './introspection.js';
import { createLookups, type EngineHooks, type OidcContext } from './lookups.js';
import { mfaTargetOf } from './mfa-policy.js';
import { organizationsFor, setGrantOrganization } from './organizations.js';
import { buildProvider, TTL } from './provider.js';
import { revokeJwt } from './revoke-jwt.js';
import { type UserinfoAnswer, userinfoFromJwt } from './userinfo.js';
import { checkWebMessageRequest } from './web-message.js';

/**
 * The OAuth 2.0 / OpenID Connect engine, behind the one interface the rest of Gatehouse
 * uses (docs/architecture.md#the-oauth-engine: nothing outside src/oauth/engine/ imports
 * oidc-provider).
 */
export interface Oidc {
  /**
   * The engine for the current signing keys, ready to serve a protocol request (Node's
   * request and response). Resolved before the caller hands the response over: what can
   * fail here (reading or unsealing the keys while the database restarts) fails while an
   * error can still be answered, never on a response nobody owns (decision 302).
   */
  handler(): Promise<(req: IncomingMessage, res: ServerResponse) => Promise<void>>;
  /** The sign-in interaction a hosted page is showing; `interaction_expired` when there is none. */
  interaction(req: IncomingMessage, res: ServerResponse): Promise<Interaction>;
  /**
   * The application and language of a pending sign-in request, by its uid, for a page
   * outside `/interaction/<uid>` (the sign-up page): the engine's interaction cookie is
   * scoped to that path, so it is looked up by uid. Undefined when there is none (expired).
   */
  pendingInteraction(uid: string): Promise<{ uid: string; clientId: string; uiLocales?: string } | undefined>;
  /** The user signed in, with these methods (RFC 8176 `amr`; default a password): returns where the browser goes next. */
  finishLogin(req: IncomingMessage, res: ServerResponse, userId: string, amr?: string[]): Promise<string>;
  /** The user allowed access (or a first-party application needs no consent), for an organization if one was chosen. */
  finishConsent(req: IncomingMessage, res: ServerResponse, organizationId?: string): Promise<string>;
  /** The user refused: the application gets `access_denied`. */
  deny(req: IncomingMessage, res: ServerResponse): Promise<string>;
  /** The organizations an application may act in for a user (see organizations.ts). */
  organizationsFor(userId: string, clientTenantId: string): Promise<Organization[]>;
  /** RFC 7662 for our JWT access tokens (the engine introspects only the tokens it stores). */
  introspectJwt(form: URLSearchParams, authorization: string | undefined): Promise<IntrospectionAnswer>;
  /** RFC 7009 for our JWT access tokens: the `jti` enters the deny list until the token expires (decision 391). */
  revokeJwt(
    form: URLSearchParams,
    authorization: string | undefined,
    actor: { ip: string | null; userAgent: string | null },
  ): Promise<IntrospectionAnswer>;
  /** `/userinfo` with an API's JWT access token that names the userinfo audience (decision 389). */
  userinfoJwt(token: string, request: ResourceRequest): Promise<UserinfoAnswer>;
  /** Refuses an authorization request whose `web_message` answer would go to an origin not allowed (decision 393). */
  checkAuthorizationRequest(params: URLSearchParams): Promise<void>;
  /** Waits for the audit writes in flight (the sweep of expired rows is a job of src/main/jobs.ts). */
  close(): Promise<void>;
}

export type { EngineHooks };

export interface Interaction {
  uid: string;
  prompt: 'login' | 'consent';
  reasons: string[];
  accountId?: string;
  /** `platform`: an application of the system tenant, which serves every user (organizations.ts). */
  client: {
    clientId: string;
    name: string;
    tenantId: string;
    platform: boolean;
    firstParty: boolean;
    organizationRequired: boolean;
  };
  /** What decides the MFA policies of this sign-in (decision 190): the application, the organization asked for or chosen. */
  mfaTarget: MfaTarget;
  /** The `acr_values` the application asked for (space-separated), e.g. multi-factor for a step-up. */
  acrValues?: string;
  /** The `organization` parameter (id or slug), when the application named one. */
  organization?: string;
  loginHint?: string;
  uiLocales?: string;
  /** The connection to sign in with, skipping the choice: `connection` (Auth0) or `identity_provider` (Cognito). */
  connection?: string;
  /** Auth0's `screen_hint`: `signup` asks for the sign-up page first. */
  screenHint?: 'signup';
  /** OpenID scopes and API scopes the user has not yet allowed. */
  missingScopes: string[];
  missingApiScopes: { audience: string; scopes: string[] }[];
  /** The organization the current grant holds, if any. */
  grantOrganizationId?: string;
}

/**
 * The connection an authorization request names (Auth0's `connection`, else Cognito's
 * `identity_provider`). `null` and `undefined` as text name none: code written for Auth0
 * sends `connection: null` through a query-string builder (the article's example does).
 */
function connectionParam(params: Record<string, unknown>): string | undefined {
  for (const named of [params.connection, params.identity_provider]) {
    const text = typeof named === 'string' ? named.trim() : '';
    // Auth0's database connection is the password sign-in itself, not a federated one (decision 387).
    if (isDatabaseConnection(text)) return undefined;
    if (text && text !== 'null' && text !== 'undefined') return text;
  }
  return undefined;
}

export function createOidc(app: AppContext, hooks: EngineHooks = {}): Oidc {
  const ctx: OidcContext = { ...app, lookups: createLookups(app), auditBuffer: createAuditBuffer(app.db, app, app.log), hooks };
  let current: { version: string; provider: Provider; callback: ReturnType<Provider['callback']> } | undefined;

  /** The engine for the current key set; rebuilt when a rotation (on any node) changes it. */
  async function engine() {
    const { version, keys } = await ctx.keys.privateJwks();
    if (current?.version !== version) {
      const provider = buildProvider(ctx, keys);
      current = { version, provider, callback: provider.callback() };
    }
    return current;
  }

  async function details(req: IncomingMessage, res: ServerResponse) {
    const { provider } = await engine();
    try {
      return { provider, details: await provider.interactionDetails(req, res) };
    } catch (error) {
      if (error instanceof errors.SessionNotFound) {
        throw new AppError('interaction_expired', 'This sign-in request has expired or was opened in another browser');
      }
      throw error;
    }
  }

  return {
    async handler() {
      const { callback } = await engine();
      return async (req, res) => {
        await callback(req, res);
      };
    },

    async interaction(req, res) {
      const { provider, details: it } = await details(req, res);
      const client = await provider.Client.find(String(it.params.client_id));
      if (!client) throw new AppError('interaction_expired', 'The application of this sign-in request no longer exists');
      const own = gatehouseClient(client);
      const prompt = it.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
      const organization = await ctx.lookups.grantOrganization(it.grantId);
      const connection = connectionParam(it.params);
      return {
        uid: it.uid,
        prompt: it.prompt.name === 'login' ? 'login' : 'consent',
        reasons: it.prompt.reasons,
        ...(it.session?.accountId && { accountId: it.session.accountId }),
        client: {
          clientId: client.clientId,
          name: client.clientName ?? client.clientId,
          tenantId: own.tenantId,
          platform: await ctx.lookups.isPlatform(own.tenantId),
          firstParty: own.firstParty,
          organizationRequired: own.organizationRequired,
        },
        mfaTarget: await mfaTargetOf(ctx, client.clientId, { organization: it.params.organization, grantId: it.grantId }),
        ...(typeof it.params.acr_values === 'string' && { acrValues: it.params.acr_values }),
        ...(typeof it.params.organization === 'string' && { organization: it.params.organization }),
        ...(typeof it.params.login_hint === 'string' && { loginHint: it.params.login_hint }),
        ...(typeof it.params.ui_locales === 'string' && { uiLocales: it.params.ui_locales }),
        ...(connection && { connection }),
        ...(it.params.screen_hint === 'signup' && { screenHint: 'signup' as const }),
        missingScopes: (prompt.missingOIDCScope ?? []).filter((scope) => scope !== 'openid'),
        missingApiScopes: Object.entries(prompt.missingResourceScopes ?? {}).map(([audience, scopes]) => ({ audience, scopes })),
        ...(organization && { grantOrganizationId: organization.id }),
      };
    },

    async pendingInteraction(uid) {
      const { provider } = await engine();
      const it = await provider.Interaction.find(uid);
      if (!it || typeof it.params.client_id !== 'string') return undefined;
      return {
        uid: it.uid,
        clientId: it.params.client_id,
        ...(typeof it.params.ui_locales === 'string' && { uiLocales: it.params.ui_locales }),
      };
    },

    async finishLogin(req, res, userId, amr = ['pwd']) {
      const { provider } = await details(req, res);
      const login = { accountId: userId, ...loginClaims(amr) };
      return provider.interactionResult(req, res, { login }, { mergeWithLastSubmission: false });
    },

    async finishConsent(req, res, organizationId) {
      const { provider, details: it } = await details(req, res);
      const accountId = it.session?.accountId as string;
      const clientId = String(it.params.client_id);
      // A grant belongs to one organization: choosing another one starts a new grant.
      const existing = it.grantId ? await provider.Grant.find(it.grantId) : undefined;
      const keep = existing && (!organizationId || (await ctx.lookups.grantOrganization(it.grantId))?.id === organizationId);
      const grant = keep ? existing : new provider.Grant({ accountId, clientId });
      const prompt = it.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      const requestedScopes = String(it.params.scope ?? '');
      grant.addOIDCScope(keep ? (prompt.missingOIDCScope ?? []).join(' ') : requestedScopes);
      if (prompt.missingOIDCClaims) grant.addOIDCClaims(prompt.missingOIDCClaims);
      for (const [audience, scopes] of Object.entries(prompt.missingResourceScopes ?? {}))
        grant.addResourceScope(audience, scopes.join(' '));
      const grantId = await grant.save();
      if (organizationId) {
        await setGrantOrganization(ctx, grantId, organizationId, new Date(ctx.clock.now().getTime() + TTL.Grant * 1000));
      }
      return provider.interactionResult(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    },

    async deny(req, res) {
      const { provider } = await details(req, res);
      return provider.interactionResult(
        req,
        res,
        { error: 'access_denied', error_description: 'The user refused access' },
        { mergeWithLastSubmission: false },
      );
    },

    introspectJwt: (form, authorization) => introspectJwt(ctx, form, authorization),
    revokeJwt: (form, authorization, actor) => revokeJwt(ctx, form, authorization, actor),
    async userinfoJwt(token, request) {
      const { provider } = await engine();
      const secret = dpopNonceSecret(ctx.masterKey);
      const problem = (bound: { jkt: string; clientId: string }) =>
        resourceProofProblem(provider, secret, request, { value: token, ...bound });
      return userinfoFromJwt(ctx, token, problem, request.scheme);
    },
    checkAuthorizationRequest: (params) => checkWebMessageRequest(ctx.db, params),

    organizationsFor: async (userId, clientTenantId) =>
      organizationsFor(ctx, userId, { tenantId: clientTenantId, isPlatform: await ctx.lookups.isPlatform(clientTenantId) }),

    async close() {
      await ctx.auditBuffer.flush();
    },
  };
}
