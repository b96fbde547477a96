import type {
  AuthenticationResponseJSON,
  AuthenticatorTransport,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
  verifyRegistrationResponse,
} from '@simplewebauthn/server';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import { AppError } from '../../platform/errors.js';
import { guardAttempt } from '../protection/guard.js';
import { assertFactorAllowed, type FactorSummary, factorsOf, summarize } from './factors.js';
import { subjectOf } from './verify.js';

/**
 * The WebAuthn library is loaded on the first passkey or security key ceremony, not at start:
 * with its ASN.1 and COSE parsers it was a fifth of the modules a node loads (decision 331).
 */
const simpleWebAuthn = () => import('@simplewebauthn/server');

/** A WebAuthn challenge lives five minutes and works once. */
const CHALLENGE_TTL_MS = 5 * 60_000;

/** The relying party is the issuer: its hostname is the RP ID, its origin the expected origin. */
const relyingParty = (ctx: AppContext) => {
  const url = new URL(ctx.config.issuer);
  return { rpID: url.hostname, origin: url.origin };
};

const invalidResponse = () => new AppError('invalid_webauthn_response', 'The passkey response is not valid for this challenge');

async function storeChallenge(ctx: AppContext, userId: string, purpose: 'registration' | 'authentication', challenge: string) {
  const now = ctx.clock.now();
  await ctx.db.deleteFrom('webauthn_challenges').where('user_id', '=', userId).where('expires_at', '<=', now).execute();
  await ctx.db
    .insertInto('webauthn_challenges')
    .values({
      id: ctx.ids.next(),
      user_id: userId,
      purpose,
      challenge,
      expires_at: new Date(now.getTime() + CHALLENGE_TTL_MS),
      created_at: now,
    })
    .execute();
}

/** Spends the stored challenge the response answers (read from its clientDataJSON), or undefined. */
async function takeChallenge(ctx: AppContext, userId: string, purpose: 'registration' | 'authentication', clientDataJSON: unknown) {
  let challenge: unknown;
  try {
    challenge = JSON.parse(Buffer.from(String(clientDataJSON), 'base64url').toString('utf8')).challenge;
  } catch {
    return undefined;
  }
  if (typeof challenge !== 'string' || challenge.length === 0 || challenge.length > 200) return undefined;
  const taken = await ctx.db
    .updateTable('webauthn_challenges')
    .set({ used_at: ctx.clock.now() })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('challenge', '=', challenge)
    .where('used_at', 'is', null)
    .where('expires_at', '>', ctx.clock.now())
    .returning('challenge')
    .executeTakeFirst();
  return taken?.challenge;
}

export async function passkeyRegistrationOptions(ctx: AppContext, userId: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const { user } = await subjectOf(ctx.db, userId, null);
  await assertFactorAllowed(ctx, user.home_tenant_id, 'webauthn');
  const existing = (await factorsOf(ctx.db, userId)).filter((f) => f.type === 'webauthn' && f.credential_id);
  const options = await (await simpleWebAuthn()).generateRegistrationOptions({
    rpName: 'Gatehouse',
    rpID: relyingParty(ctx).rpID,
    userName: user.email,
    userID: new TextEncoder().encode(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((f) => ({ id: f.credential_id as string, transports: f.transports })),
    authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
  });
  await storeChallenge(ctx, userId, 'registration', options.challenge);
  return options;
}

/** Verifies a registration against its stored challenge and keeps the credential as a confirmed factor. */
export async function verifyPasskeyRegistration(
  ctx: AppContext,
  actor: Actor,
  userId: string,
  response: RegistrationResponseJSON,
  name?: string,
): Promise<FactorSummary> {
  const { user } = await subjectOf(ctx.db, userId, actor.ip);
  const expectedChallenge = await takeChallenge(ctx, userId, 'registration', response?.response?.clientDataJSON);
  if (!expectedChallenge) throw invalidResponse();
  const { rpID, origin } = relyingParty(ctx);
  let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
  try {
    verified = await (await simpleWebAuthn()).verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: origin,
      expectedRPID: rpID,
    });
  } catch {
    throw invalidResponse();
  }
  if (!verified.verified) throw invalidResponse();
  const { credential, credentialDeviceType } = verified.registrationInfo;
  const factorId = ctx.ids.next();
  const factor = await ctx.db.transaction().execute(async (trx) => {
    const row = await trx
      .insertInto('mfa_factors')
      .values({
        id: factorId,
        user_id: userId,
        type: 'webauthn',
        name: name ?? null,
        credential_id: credential.id,
        public_key: Buffer.from(credential.publicKey).toString('base64url'),
        sign_count: credential.counter,
        transports: credential.transports ?? [],
        // RFC 8176: a synced passkey is a software-secured key, a device-bound one a hardware-secured key.
        amr: credentialDeviceType === 'multiDevice' ? 'swk' : 'hwk',
        confirmed: true,
        created_at: ctx.clock.now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(trx, ctx, {
      action: 'iam.mfa.enrolled',
      actor,
      tenantId: user.home_tenant_id,
      target: { type: 'user', id: userId },
      details: { factor_id: factorId, type: 'webauthn', confirmed: true },
    });
    return row;
  });
  return summarize(ctx, factor);
}

export async function passkeyAuthenticationOptions(ctx: AppContext, userId: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const passkeys = (await factorsOf(ctx.db, userId)).filter((f) => f.type === 'webauthn' && f.confirmed && f.credential_id);
  const options = await (await simpleWebAuthn()).generateAuthenticationOptions({
    rpID: relyingParty(ctx).rpID,
    allowCredentials: passkeys.map((f) => ({ id: f.credential_id as string, transports: f.transports as AuthenticatorTransport[] })),
    userVerification: 'preferred',
  });
  await storeChallenge(ctx, userId, 'authentication', options.challenge);
  return options;
}

/** Verifies a passkey assertion (through the brute-force guard, kind `mfa`); a forged or replayed one counts as a failure. */
export async function verifyPasskeyAuthentication(
  ctx: AppContext,
  userId: string,
  response: AuthenticationResponseJSON,
  ip: string | null,
): Promise<{ amr: string[] }> {
  const { user, subject } = await subjectOf(ctx.db, userId, ip);
  let amr = 'hwk';
  const check = async (): Promise<boolean> => {
    const expectedChallenge = await takeChallenge(ctx, userId, 'authentication', response?.response?.clientDataJSON);
    const factor = (await factorsOf(ctx.db, userId)).find((f) => f.type === 'webauthn' && f.confirmed && f.credential_id === response?.id);
    if (!expectedChallenge || !factor?.public_key) return false;
    const { rpID, origin } = relyingParty(ctx);
    try {
      const result = await (await simpleWebAuthn()).verifyAuthenticationResponse({
        response,
        expectedChallenge,
        expectedOrigin: origin,
        expectedRPID: rpID,
        credential: {
          id: factor.credential_id as string,
          publicKey: Buffer.from(factor.public_key, 'base64url'),
          counter: Number(factor.sign_count),
          transports: factor.transports as AuthenticatorTransport[],
        },
      });
      if (!result.verified) return false;
      await ctx.db
        .updateTable('mfa_factors')
        .set({ sign_count: result.authenticationInfo.newCounter, last_used_at: ctx.clock.now() })
        .where('id', '=', factor.id)
        .execute();
      amr = factor.amr ?? 'hwk';
      return true;
    } catch {
      return false;
    }
  };
  await guardAttempt(
    ctx,
    'mfa',
    subject,
    async () => {
      if (await check()) return true;
      await recordAudit(ctx.db, ctx, {
        action: 'iam.mfa.challengeFailed',
        actor: { type: 'user', id: userId, ip, userAgent: null },
        outcome: 'failure',
        tenantId: user.home_tenant_id,
        target: { type: 'user', id: userId },
        details: { method: 'webauthn' },
      });
      return false;
    },
    invalidResponse,
  );
  return { amr: [amr] };
}
