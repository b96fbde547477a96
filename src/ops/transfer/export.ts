import { factorDestination, factorSecret } from '../../authn/mfa/factors.js';
import { combinePermissions, outranks, type Scope, systemTenantId } from '../../directory/permissions/effective.js';
import { type Actor, recordAudit } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { MfaFactor, User } from '../../platform/db/schema.js';
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
 *
 * Users the caller does not outrank (decision 170: their permissions in the system tenant
 * are not all the caller's, as for assertManages) are left out, and the header's
 * `omitted_users` says how many; the operator's CLI (scope `all`) exports everyone.
 */
export async function* exportUsers(ctx: AppContext, scope: Scope, passphrase: string, actor: Actor): AsyncGenerator<string> {
  const { envelope, header } = await Envelope.create(passphrase, ctx.clock.now());
  const omitted = await notOutranked(ctx.db, scope);
  await recordAudit(ctx.db, ctx, { action: 'iam.users.exported', actor, details: { format: 'jsonl', omitted_users: omitted.size } });
  yield `${JSON.stringify({ ...header, omitted_users: omitted.size })}\n`;
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
    // Checked again page by page: a user granted more since the count above is left out all the same.
    const above = await notOutranked(
      ctx.db,
      scope,
      users.map((u) => u.id),
    );
    const kept = users.filter((u) => !omitted.has(u.id) && !above.has(u.id));
    if (kept.length === 0) continue;
    const ids = kept.map((u) => u.id);
    const [roles, factors, groups] = await Promise.all([
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
      ctx.db
        .selectFrom('group_members as gm')
        .innerJoin('groups as g', 'g.id', 'gm.group_id')
        .select(['gm.user_id', 'gm.tenant_id', 'g.name'])
        .where('gm.user_id', 'in', ids)
        .orderBy('g.name')
        .execute(),
    ]);
    let lines = '';
    for (const user of kept) {
      const memberships = new Map<string, string[]>();
      for (const row of roles.filter((r) => r.user_id === user.id)) {
        const list = memberships.get(row.tenant_id) ?? [];
        if (row.name) list.push(row.name);
        memberships.set(row.tenant_id, list);
      }
      const own = factors.filter((f) => f.user_id === user.id);
      const inGroups = new Map<string, string[]>();
      for (const g of groups.filter((g) => g.user_id === user.id))
        inGroups.set(g.tenant_id, [...(inGroups.get(g.tenant_id) ?? []), g.name]);
      lines += `${JSON.stringify(userLine(ctx, envelope, user, slugs, memberships, own, inGroups))}\n`;
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
  groups: Map<string, string[]>,
) {
  const mfa = factors.flatMap((f): Record<string, Record<string, Encrypted>>[] => {
    if (f.type === 'otp') return [{ totp: { secret: envelope.encrypt('totp', user.email, factorSecret(ctx, f)) } }];
    if (f.type === 'sms') return [{ phone: { value: envelope.encrypt('sms', user.email, factorDestination(ctx, f)) } }];
    if (f.type === 'email') return [{ email: { value: envelope.encrypt('email', user.email, factorDestination(ctx, f)) } }];
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
    ...(user.phone && { phone_number: user.phone, phone_verified: user.phone_verified }),
    ...(user.given_name && { given_name: user.given_name }),
    ...(user.family_name && { family_name: user.family_name }),
    ...(user.name && { name: user.name }),
    ...(user.picture && { picture: user.picture }),
    ...(user.locale && { locale: user.locale }),
    user_metadata: user.user_metadata,
    app_metadata: user.app_metadata,
    blocked: user.status === 'disabled',
    created_at: user.created_at.toISOString(),
    ...(user.password_hash && { password_hash: envelope.encrypt('password_hash', user.email, user.password_hash) }),
    ...(mfa.length > 0 && { mfa_factors: mfa }),
    gatehouse: {
      status: user.status,
      ...(user.home_tenant_id && { home_tenant: slugs.get(user.home_tenant_id) }),
      tenants: [...memberships].map(([tenantId, roles]) => ({
        tenant: slugs.get(tenantId),
        roles,
        ...(groups.has(tenantId) && { groups: groups.get(tenantId) }),
      })),
      ...(passkeys.length > 0 && { webauthn: passkeys }),
    },
  };
}

/**
 * The users (of `ids`, or all) whose permissions in the system tenant the caller's do not
 * cover. Only system-tenant members can hold what a system-scope caller lacks; a caller
 * holding `all` outranks everyone (no read).
 */
async function notOutranked(db: Db, scope: Scope, ids?: string[]): Promise<Set<string>> {
  if (scope.kind === 'system' && scope.held.has('all')) return new Set();
  const system = await systemTenantId(db);
  // Roles held directly and through groups (decision 361): a group's ADMIN outranks as a direct one does.
  let roles = db
    .selectFrom('effective_roles as mr')
    .innerJoin('roles as r', 'r.id', 'mr.role_id')
    .select(['mr.user_id', 'r.permissions'])
    .where('mr.tenant_id', '=', system);
  let direct = db.selectFrom('membership_permissions').select(['user_id', 'permission']).where('tenant_id', '=', system);
  if (ids) {
    roles = roles.where('mr.user_id', 'in', ids);
    direct = direct.where('user_id', 'in', ids);
  }
  const [roleRows, directRows] = await Promise.all([roles.execute(), direct.execute()]);
  const held = new Map<string, { roles: { permissions: string[] }[]; direct: string[] }>();
  const of = (id: string) => held.get(id) ?? held.set(id, { roles: [], direct: [] }).get(id)!;
  for (const row of roleRows) of(row.user_id).roles.push({ permissions: row.permissions });
  for (const row of directRows) of(row.user_id).direct.push(row.permission);
  return new Set([...held].filter(([, grants]) => !outranks(scope, combinePermissions(grants.roles, grants.direct))).map(([id]) => id));
}
