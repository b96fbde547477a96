import { type Actor, recordAudit } from '../../audit/record.js';
import type { AppContext } from '../../context.js';
import type { MfaFactor, User } from '../../db/schema.js';
import { factorDestination, factorSecret } from '../../mfa/factors.js';
import { definitionLines } from './definitions.js';
import { type Encrypted, Envelope } from './envelope.js';

const PAGE = 500;

/**
 * The user export (decision 142): JSON lines, the header first, then one user a line in
 * the import's own format (Auth0's fields and the `gatehouse` extension), so importing the
 * file into another Gatehouse with the passphrase brings every user back, passwords and
 * TOTP seeds included, and the tenants and roles they hold (definition lines before the users). Every secret is encrypted with the passphrase; recovery codes are
 * not exported (their hashes are keyed with this server's master key and user ids).
 * Read page by page: memory stays bounded whatever the number of users.
 */
export async function* exportUsers(ctx: AppContext, passphrase: string, actor: Actor): AsyncGenerator<string> {
  const { envelope, header } = await Envelope.create(passphrase, ctx.clock.now());
  await recordAudit(ctx.db, ctx, { action: 'iam.users.exported', actor, details: { format: 'jsonl' } });
  yield `${JSON.stringify(header)}\n`;
  // The tenants, permissions and roles the users need, so the file imports into an empty Gatehouse (decision 143).
  const definitions = await definitionLines(ctx.db);
  if (definitions) yield definitions;
  const tenants = await ctx.db.selectFrom('tenants').select(['id', 'slug']).execute();
  const slugs = new Map(tenants.map((t) => [t.id, t.slug]));
  let after: string | undefined;
  for (;;) {
    let query = ctx.db.selectFrom('users').selectAll().orderBy('id').limit(PAGE);
    if (after) query = query.where('id', '>', after);
    const users = await query.execute();
    if (users.length === 0) return;
    after = users.at(-1)!.id;
    const ids = users.map((u) => u.id);
    const [roles, factors] = await Promise.all([
      ctx.db
        .selectFrom('memberships as m')
        .leftJoin('membership_roles as mr', (join) => join.onRef('mr.tenant_id', '=', 'm.tenant_id').onRef('mr.user_id', '=', 'm.user_id'))
        .leftJoin('roles as r', 'r.id', 'mr.role_id')
        .select(['m.user_id', 'm.tenant_id', 'r.name'])
        .where('m.user_id', 'in', ids)
        .orderBy('m.created_at')
        .orderBy('r.name')
        .execute(),
      ctx.db
        .selectFrom('mfa_factors')
        .selectAll()
        .where('user_id', 'in', ids)
        .where('confirmed', '=', true)
        .orderBy('created_at')
        .execute(),
    ]);
    let lines = '';
    for (const user of users) {
      const memberships = new Map<string, string[]>();
      for (const row of roles.filter((r) => r.user_id === user.id)) {
        const list = memberships.get(row.tenant_id) ?? [];
        if (row.name) list.push(row.name);
        memberships.set(row.tenant_id, list);
      }
      const own = factors.filter((f) => f.user_id === user.id);
      lines += `${JSON.stringify(userLine(ctx, envelope, user, slugs, memberships, own))}\n`;
    }
    yield lines;
  }
}

function userLine(
  ctx: AppContext,
  envelope: Envelope,
  user: User,
  slugs: Map<string, string>,
  memberships: Map<string, string[]>,
  factors: MfaFactor[],
) {
  const mfa = factors.flatMap((f): Record<string, Record<string, Encrypted>>[] => {
    if (f.type === 'otp') return [{ totp: { secret: envelope.encrypt('totp', factorSecret(ctx, f)) } }];
    if (f.type === 'sms') return [{ phone: { value: envelope.encrypt('sms', factorDestination(ctx, f)) } }];
    if (f.type === 'email') return [{ email: { value: envelope.encrypt('email', factorDestination(ctx, f)) } }];
    return [];
  });
  const passkeys = factors
    .filter((f) => f.type === 'webauthn')
    .map((f) => ({
      name: f.name,
      credential_id: f.credential_id,
      public_key: f.public_key,
      sign_count: f.sign_count,
      transports: f.transports,
      amr: f.amr,
    }));
  return {
    user_id: user.id,
    email: user.email,
    email_verified: user.email_verified,
    ...(user.username && { username: user.username }),
    ...(user.phone && { phone_number: user.phone }),
    ...(user.given_name && { given_name: user.given_name }),
    ...(user.family_name && { family_name: user.family_name }),
    ...(user.name && { name: user.name }),
    ...(user.picture && { picture: user.picture }),
    ...(user.locale && { locale: user.locale }),
    user_metadata: user.user_metadata,
    app_metadata: user.app_metadata,
    blocked: user.status === 'disabled',
    created_at: user.created_at.toISOString(),
    ...(user.password_hash && { password_hash: envelope.encrypt('password_hash', user.password_hash) }),
    ...(mfa.length > 0 && { mfa_factors: mfa }),
    gatehouse: {
      status: user.status,
      ...(user.home_tenant_id && { home_tenant: slugs.get(user.home_tenant_id) }),
      tenants: [...memberships].map(([tenantId, roles]) => ({ tenant: slugs.get(tenantId), roles })),
      ...(passkeys.length > 0 && { webauthn: passkeys }),
    },
  };
}
