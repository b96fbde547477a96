import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import { Type } from '@sinclair/typebox';
import { requireAccess, scopeOf } from '../../directory/permissions/guard.js';
import { assertManageable, getUser } from '../../directory/users/users.js';
import type { AppContext } from '../../platform/context.js';
import { actorOf, requireMfaSession } from '../../platform/http/guards.js';
import { ACCESS_TOKEN, errorResponses, IdParams, SESSION } from '../../platform/http/schemas.js';
import type { ActiveSession } from '../../platform/ports/authenticator.js';
import { recordSessionAmr } from '../sessions/sessions.js';
import { factorOf, summarize } from './factors.js';
import {
  confirmFactor,
  enrolOob,
  enrolTotp,
  listFactors,
  passkeyRegistrationOptions,
  regenerateRecoveryCodes,
  removeFactor,
  resetFactors,
  verifyPasskeyRegistration,
} from './index.js';
import {
  ConfirmBody,
  Confirmed,
  FactorList,
  FactorParams,
  NameBody,
  OobEnrolment,
  PasskeyBody,
  PasskeyOptions,
  RecoveryCodes,
  SmsBody,
  TotpEnrolment,
  toFactor,
  UserFactorParams,
} from './schema.js';

const tags = ['mfa'];
const me = { tags, security: SESSION };
const noContent = { 204: Type.Null(), ...errorResponses };

/** Users manage their own factors with the session; administrators list and reset a user's. */
export const mfaRoutes =
  (ctx: AppContext): FastifyPluginAsyncTypebox =>
  async (app) => {
    const session = requireMfaSession(ctx);
    const userOf = (request: { signedIn?: { user: { id: string } } }) => request.signedIn!.user.id;
    /**
     * The session that just proved a factor by confirming it holds that factor: it may go on
     * managing the account (requireMfaSession) without signing in again.
     */
    const provedFactor = async (request: { signedIn?: ActiveSession }, method: string) => {
      const { session: current } = request.signedIn!;
      if (!current.amr.includes('mfa')) await recordSessionAmr(ctx, current.id, [...new Set([...current.amr, method, 'mfa'])]);
    };

    app.get(
      '/users/me/mfa',
      { schema: { ...me, summary: 'Your factors', response: { 200: FactorList, ...errorResponses } }, onRequest: session },
      async (request) => ({ factors: (await listFactors(ctx, userOf(request))).map(toFactor) }),
    );

    app.post(
      '/users/me/mfa/otp',
      {
        schema: {
          ...me,
          summary: 'Start enrolling an authenticator app (TOTP)',
          body: NameBody,
          response: { 201: TotpEnrolment, ...errorResponses },
        },
        onRequest: session,
      },
      async (request, reply) => {
        const e = await enrolTotp(ctx, actorOf(request), userOf(request), request.body.name);
        return reply.status(201).send({ id: e.factorId, secret: e.secret, otpauth_uri: e.otpauthUri, qr_code: e.qrCodeDataUrl });
      },
    );

    app.post(
      '/users/me/mfa/email',
      {
        schema: {
          ...me,
          summary: 'Start enrolling your email address: a code is sent there',
          response: { 201: OobEnrolment, ...errorResponses },
        },
        onRequest: session,
      },
      async (request, reply) => {
        const e = await enrolOob(ctx, actorOf(request), userOf(request), 'email');
        return reply.status(201).send({ id: e.factorId, oob_code: e.oobCode });
      },
    );

    app.post(
      '/users/me/mfa/sms',
      {
        schema: {
          ...me,
          summary: 'Start enrolling a phone number: a code is sent there',
          body: SmsBody,
          response: { 201: OobEnrolment, ...errorResponses },
        },
        onRequest: session,
      },
      async (request, reply) => {
        const e = await enrolOob(ctx, actorOf(request), userOf(request), 'sms', request.body.phone_number);
        return reply.status(201).send({ id: e.factorId, oob_code: e.oobCode });
      },
    );

    app.post(
      '/users/me/mfa/:factorId/confirm',
      {
        schema: {
          ...me,
          summary: 'Confirm a factor with its code (otp, or oob_code + binding_code); the first one returns recovery codes',
          params: FactorParams,
          body: ConfirmBody,
          response: { 200: Confirmed, ...errorResponses },
        },
        onRequest: session,
      },
      async (request) => {
        const { otp, oob_code, binding_code } = request.body;
        const { recoveryCodes } = await confirmFactor(ctx, actorOf(request), userOf(request), request.params.factorId, {
          ...(otp !== undefined && { otp }),
          ...(oob_code !== undefined && { oobCode: oob_code }),
          ...(binding_code !== undefined && { bindingCode: binding_code }),
        });
        const factor = summarize(ctx, await factorOf(ctx.db, userOf(request), request.params.factorId));
        await provedFactor(request, factor.type === 'sms' ? 'sms' : 'otp');
        return { factor: toFactor(factor), ...(recoveryCodes && { recovery_codes: recoveryCodes }) };
      },
    );

    app.post(
      '/users/me/mfa/webauthn/options',
      {
        schema: {
          ...me,
          summary: 'Options for navigator.credentials.create (a passkey)',
          response: { 200: PasskeyOptions, ...errorResponses },
        },
        onRequest: session,
      },
      async (request) => passkeyRegistrationOptions(ctx, userOf(request)),
    );

    app.post(
      '/users/me/mfa/webauthn',
      {
        schema: {
          ...me,
          summary: 'Register a passkey: the response of navigator.credentials.create',
          body: PasskeyBody,
          response: { 201: Type.Object({ factor: Confirmed.properties.factor }), ...errorResponses },
        },
        onRequest: session,
      },
      async (request, reply) => {
        const response = request.body.response as unknown as RegistrationResponseJSON;
        const factor = await verifyPasskeyRegistration(ctx, actorOf(request), userOf(request), response, request.body.name);
        await provedFactor(request, 'hwk');
        return reply.status(201).send({ factor: toFactor(factor) });
      },
    );

    app.post(
      '/users/me/mfa/recovery-codes',
      {
        schema: {
          ...me,
          summary: 'Replace your recovery codes with 10 new ones (shown once)',
          response: { 200: RecoveryCodes, ...errorResponses },
        },
        onRequest: session,
      },
      async (request) => ({ recovery_codes: await regenerateRecoveryCodes(ctx, actorOf(request), userOf(request)) }),
    );

    app.delete(
      '/users/me/mfa/:factorId',
      {
        schema: {
          ...me,
          summary: 'Remove one of your factors (not the last one where MFA is required)',
          params: FactorParams,
          response: noContent,
        },
        onRequest: session,
      },
      async (request, reply) => {
        await removeFactor(ctx, actorOf(request), userOf(request), request.params.factorId);
        return reply.status(204).send(null);
      },
    );

    // Administrators: read with the account-read permission, change under the rule of decision 180.
    const admin = { tags, security: ACCESS_TOKEN };
    app.get(
      '/users/:id/mfa',
      {
        schema: { ...admin, summary: 'A user’s factors', params: IdParams, response: { 200: FactorList, ...errorResponses } },
        onRequest: requireAccess(ctx, { system: 'iam.account.read', tenant: 'tenant.account.read' }),
      },
      async (request) => {
        const user = await getUser(ctx, scopeOf(request), request.params.id);
        return { factors: (await listFactors(ctx, user.id)).map(toFactor) };
      },
    );

    app.delete(
      '/users/:id/mfa',
      {
        schema: { ...admin, summary: 'Reset: remove every factor and recovery code of a user', params: IdParams, response: noContent },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const user = await assertManageable(ctx, scopeOf(request), actorOf(request), request.params.id);
        await resetFactors(ctx, actorOf(request), user.id);
        return reply.status(204).send(null);
      },
    );

    app.delete(
      '/users/:id/mfa/:factorId',
      {
        schema: { ...admin, summary: 'Remove one factor of a user', params: UserFactorParams, response: noContent },
        onRequest: requireAccess(ctx, { system: 'iam.account.update', tenant: 'tenant.account.update' }),
      },
      async (request, reply) => {
        const user = await assertManageable(ctx, scopeOf(request), actorOf(request), request.params.id);
        await removeFactor(ctx, actorOf(request), user.id, request.params.factorId);
        return reply.status(204).send(null);
      },
    );
  };
