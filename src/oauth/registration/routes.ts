import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Scope } from '../../directory/permissions/effective.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { fingerprint, randomToken } from '../../platform/crypto/secrets.js';
import type { Application } from '../../platform/db/schema.js';
import { AppError } from '../../platform/errors.js';
import { asAppError, limitBodies, logFailure } from '../../platform/http/server.js';
import { createApplication, deleteApplication, updateApplication } from '../applications/applications.js';
import { returnRegistration, takeRegistration } from './initial-access-tokens.js';
import { applicationFromMetadata, metadataOf, patchFromMetadata, type RegistrationMetadata } from './metadata.js';
import { REGISTRATION_PATH } from './path.js';

/** A registration is small; the engine's limit for its own bodies. */
const BODY_LIMIT = 56 * 1024;

const registrationTokenDigest = (masterKey: Buffer, token: string) => fingerprint(masterKey, 'registration-access-token', token);

function bearerOf(request: FastifyRequest): string | undefined {
  const match = /^Bearer ([\x21-\x7e]+)$/i.exec(request.headers.authorization ?? '');
  return match?.[1];
}

const invalidToken = (reply: FastifyReply, description: string) =>
  reply
    .status(401)
    .header('www-authenticate', `Bearer error="invalid_token"`)
    .header('cache-control', 'no-store')
    .send({ error: 'invalid_token', error_description: description });

/**
 * Dynamic client registration (RFC 7591) and its management (RFC 7592), decision 422.
 * Gatehouse's own endpoint, not the engine's: a client is an application row, with its
 * secret kept as a digest, the admin API's rules and audit. Registration needs an initial
 * access token, which names the tenant the application lands in (nothing in the request
 * can name another); the registration access token answered once reads, replaces and
 * deletes that one application only. Errors are RFC 7591's (`invalid_client_metadata`,
 * `invalid_redirect_uri`) and RFC 6750's (`invalid_token`).
 */
export const clientRegistrationRoutes =
  (ctx: AppContext): FastifyPluginAsync =>
  async (app) => {
    limitBodies(app, BODY_LIMIT);
    app.setErrorHandler((error: FastifyError, request, reply) => {
      const appError = asAppError(error, request);
      if (appError.status >= 500) {
        logFailure(request, error, appError, 'Client registration failed');
        return reply.status(appError.status).send({ error: 'server_error', error_description: 'The request failed' });
      }
      const code =
        (appError.details?.oauth_error as string | undefined) ??
        (appError.code === 'invalid_redirect_uri' || appError.code === 'missing_redirect_uri'
          ? 'invalid_redirect_uri'
          : 'invalid_client_metadata');
      return reply.status(400).header('cache-control', 'no-store').send({ error: code, error_description: appError.message });
    });

    const registrationUri = (clientId: string) => `${ctx.config.issuer}${REGISTRATION_PATH}/${encodeURIComponent(clientId)}`;
    const actorFor = (request: FastifyRequest, id: string): Actor => ({
      type: 'client',
      id,
      ip: request.ip,
      userAgent: request.headers['user-agent'] ?? null,
    });
    const tenantScope = (tenantId: string): Scope => ({ kind: 'tenant', tenantId, held: new Set() });

    app.post(REGISTRATION_PATH, { schema: { hide: true } }, async (request, reply) => {
      const token = bearerOf(request);
      if (!token) return invalidToken(reply, 'An initial access token is required (Authorization: Bearer)');
      const input = applicationFromMetadata(request.body as RegistrationMetadata);
      const iat = await takeRegistration(ctx.db, ctx.masterKey, token, ctx.clock.now());
      if (!iat) return invalidToken(reply, 'The initial access token is not valid');
      const registrationToken = randomToken('ghrat');
      let created: Awaited<ReturnType<typeof createApplication>>;
      try {
        // The tenant is the token's: `tenant` is never read from the request.
        created = await createApplication(ctx, tenantScope(iat.tenant_id), actorFor(request, `iat:${iat.id}`), input);
      } catch (error) {
        await returnRegistration(ctx.db, iat.id);
        throw error;
      }
      const application = await ctx.db
        .updateTable('applications')
        .set({ registration_access_token_digest: registrationTokenDigest(ctx.masterKey, registrationToken), registered_with: iat.id })
        .where('id', '=', created.application.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      const usesSecret = created.clientSecret !== undefined && input.token_endpoint_auth_method !== 'private_key_jwt';
      return reply
        .status(201)
        .header('cache-control', 'no-store')
        .send({
          ...metadataOf(application),
          ...(usesSecret && { client_secret: created.clientSecret, client_secret_expires_at: 0 }),
          registration_access_token: registrationToken,
          registration_client_uri: registrationUri(application.client_id),
        });
    });

    /** The application a registration access token manages, or undefined (the same answer for a wrong token and a wrong id). */
    async function managed(request: FastifyRequest<{ Params: { clientId: string } }>): Promise<Application | undefined> {
      const token = bearerOf(request);
      if (!token) return undefined;
      return ctx.db
        .selectFrom('applications as a')
        .innerJoin('tenants as t', 't.id', 'a.tenant_id')
        .selectAll('a')
        .where('a.client_id', '=', request.params.clientId)
        .where('a.registration_access_token_digest', '=', registrationTokenDigest(ctx.masterKey, token))
        .where('t.status', '=', 'active')
        .executeTakeFirst();
    }

    const path = `${REGISTRATION_PATH}/:clientId`;
    app.get<{ Params: { clientId: string } }>(path, { schema: { hide: true } }, async (request, reply) => {
      const application = await managed(request);
      if (!application) return invalidToken(reply, 'The registration access token is not valid for this client');
      return reply
        .header('cache-control', 'no-store')
        .send({ ...metadataOf(application), registration_client_uri: registrationUri(application.client_id) });
    });

    app.put<{ Params: { clientId: string } }>(path, { schema: { hide: true } }, async (request, reply) => {
      const application = await managed(request);
      if (!application) return invalidToken(reply, 'The registration access token is not valid for this client');
      const body = request.body as RegistrationMetadata;
      if (typeof body !== 'object' || body === null || body.client_id !== application.client_id) {
        throw new AppError('invalid_field', 'client_id must be the registered client’s', { oauth_error: 'invalid_client_metadata' });
      }
      const patch = patchFromMetadata(application, body);
      const updated = await updateApplication(
        ctx,
        tenantScope(application.tenant_id),
        actorFor(request, application.client_id),
        application.id,
        patch,
      );
      return reply
        .header('cache-control', 'no-store')
        .send({ ...metadataOf(updated), registration_client_uri: registrationUri(updated.client_id) });
    });

    app.delete<{ Params: { clientId: string } }>(path, { schema: { hide: true } }, async (request, reply) => {
      const application = await managed(request);
      if (!application) return invalidToken(reply, 'The registration access token is not valid for this client');
      await deleteApplication(ctx, tenantScope(application.tenant_id), actorFor(request, application.client_id), application.id);
      return reply.status(204).send();
    });
  };
