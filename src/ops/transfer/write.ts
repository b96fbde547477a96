import type { Insertable } from 'kysely';
import { sealDestination, sealSecret } from '../../authn/mfa/factors.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { systemRole } from '../../directory/roles/roles.js';
import { mayChangeAccounts, refusals } from '../../directory/users/manage.js';
import { inviteAccount } from '../../flows/invitation/invitations.js';
import { endUserAccess } from '../../oauth/access/end-access.js';
import { type Actor, actingUserId, auditRows } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import type { AuditEventsTable, EventOutboxTable, MfaFactorsTable, User, UsersTable } from '../../platform/db/schema.js';
import { LineError, type ResolvedRecord } from './records.js';

type Fail = (line: number, error: unknown, email?: string) => void;
type Existing = User;

/**
 * Writes one batch in one transaction. A record the caller may not write is left out and
 * reported; when the transaction fails all the same (a conflict with a concurrent change),
 * each record is retried in a transaction of its own, so only the bad one is reported.
 */
export async function writeBatch(
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  batch: ResolvedRecord[],
  fail: Fail,
): Promise<{ created: number; updated: number }> {
  const rejected: [number, unknown, string][] = [];
  try {
    const written = await ctx.db.transaction().execute((trx) => writeRecords(trx, ctx, scope, actor, batch, rejected));
    for (const [line, error, email] of rejected) fail(line, error, email);
    return written;
  } catch (error) {
    if (batch.length === 1) {
      fail(batch[0]!.line, error, batch[0]!.email);
      return { created: 0, updated: 0 };
    }
    const total = { created: 0, updated: 0 };
    for (const record of batch) {
      const one = await writeBatch(ctx, scope, actor, [record], fail);
      total.created += one.created;
      total.updated += one.updated;
    }
    return total;
  }
}

async function writeRecords(
  trx: Db,
  ctx: AppContext,
  scope: Scope,
  actor: Actor,
  batch: ResolvedRecord[],
  rejected: [number, unknown, string][],
): Promise<{ created: number; updated: number }> {
  const now = ctx.clock.now();
  const emails = batch.map((r) => r.email.toLowerCase());
  const existingRows: Existing[] = await trx
    .selectFrom('users')
    .selectAll()
    .where((eb) => eb(eb.fn('lower', ['email']), 'in', emails))
    .forUpdate()
    .execute();
  const existing = new Map(existingRows.map((u) => [u.email.toLowerCase(), u]));
  // In tenant scope an account outside the tenant does not exist for the caller (decision 185).
  const visible = new Set(
    scope.kind === 'system'
      ? existingRows.map((u) => u.id)
      : existingRows.length === 0
        ? []
        : (
            await trx
              .selectFrom('memberships')
              .select('user_id')
              .where('tenant_id', '=', scope.tenantId)
              .where(
                'user_id',
                'in',
                existingRows.map((u) => u.id),
              )
              .execute()
          ).map((m) => m.user_id),
  );
  const usernames = batch.flatMap((r) => (r.username ? [r.username.toLowerCase()] : []));
  const owners = new Map<string, string>();
  if (usernames.length > 0) {
    const rows = await trx
      .selectFrom('users')
      .select(['id', 'username'])
      .where((eb) => eb(eb.fn('lower', ['username']), 'in', usernames))
      .execute();
    for (const row of rows) owners.set(row.username!.toLowerCase(), row.id);
  }

  // The rule of every account change (decision 180), for the batch's existing users at once.
  const refused = await refusals(
    trx,
    scope,
    actingUserId(actor),
    existingRows.filter((u) => visible.has(u.id)),
  );
  const accepted: { record: ResolvedRecord; id: string; old?: Existing }[] = [];
  let invited = 0;
  for (const record of batch) {
    const found = existing.get(record.email.toLowerCase());
    const old = found && visible.has(found.id) ? found : undefined;
    try {
      if (old) {
        // Decision 184: a record that changes a user needs the update permission and the rule of every account change.
        if (!mayChangeAccounts(scope, 'update')) throw new LineError('update_not_allowed');
        const refusal = refused.get(old.id);
        if (refusal) throw refusal;
        // Nobody changes their own status or roles (decision 187; as nobody deletes themselves).
        if (
          old.id === actor.id &&
          ((record.status !== undefined && record.status !== old.status) || (await changesRoles(trx, record, old.id)))
        ) {
          throw new LineError('forbidden', 'You cannot change your own status or roles');
        }
      }
      const id = old?.id ?? ctx.ids.next();
      if (record.username) {
        const owner = owners.get(record.username.toLowerCase());
        if (owner !== undefined && owner !== id) throw new LineError('username_taken');
        owners.set(record.username.toLowerCase(), id);
      }
      if (found && !old && scope.kind === 'tenant') {
        // An address outside the tenant is answered as a new one; its owner is invited instead (decision 185).
        const roles = record.memberships.find((m) => m.tenantId === scope.tenantId)?.roleIds ?? [(await systemRole(trx, 'USER')).id];
        await inviteAccount(trx, ctx, scope, actor, found, scope.tenantId, roles, record.email);
        invited++;
        continue;
      }
      accepted.push({ record, id, ...(old && { old }) });
    } catch (error) {
      rejected.push([record.line, error, record.email]);
    }
  }

  const created = accepted.filter((a) => !a.old);
  if (created.length > 0) {
    await trx
      .insertInto('users')
      .values(created.map(({ record, id }) => newUser(record, id, scope, now)))
      .execute();
  }
  for (const { record, id, old } of accepted) {
    if (!old) continue;
    await trx.updateTable('users').set(changes(record, now)).where('id', '=', id).execute();
    // A new password set by an administrator ends the user's sessions and grants, as a password change would.
    if (record.password_hash !== undefined && record.password_hash !== old.password_hash) await endUserAccess(trx, ctx, id);
  }

  // An existing member's roles change only when the line names them (decision 187): a line that
  // updates a profile must not reset an administrator to USER.
  const updatedIds = accepted.flatMap((a) => (a.old ? [a.id] : []));
  const held =
    updatedIds.length === 0
      ? new Set<string>()
      : new Set(
          (await trx.selectFrom('memberships').select(['user_id', 'tenant_id']).where('user_id', 'in', updatedIds).execute()).map(
            (m) => `${m.user_id} ${m.tenant_id}`,
          ),
        );
  const memberships = accepted.flatMap(({ record, id }) =>
    record.memberships.filter((m) => m.named || !held.has(`${id} ${m.tenantId}`)).map((m) => ({ ...m, userId: id })),
  );
  if (memberships.length > 0) {
    await trx
      .insertInto('memberships')
      .values(memberships.map((m) => ({ tenant_id: m.tenantId, user_id: m.userId, created_at: now, updated_at: now })))
      .onConflict((oc) => oc.doNothing())
      .execute();
    for (const m of memberships.filter((m) => accepted.some((a) => a.old && a.id === m.userId))) {
      await trx.deleteFrom('membership_roles').where('tenant_id', '=', m.tenantId).where('user_id', '=', m.userId).execute();
    }
    const grants = memberships.flatMap((m) => m.roleIds.map((roleId) => ({ tenant_id: m.tenantId, user_id: m.userId, role_id: roleId })));
    if (grants.length > 0) await trx.insertInto('membership_roles').values(grants).execute();
  }
  // The groups a line names replace the user's groups in that tenant (decision 368); a line
  // that names none leaves them. The membership exists by now (held, or written above).
  const grouped = accepted.flatMap(({ record, id, old }) =>
    record.memberships.filter((m) => m.groupIds !== undefined).map((m) => ({ ...m, userId: id, old: old !== undefined })),
  );
  for (const m of grouped.filter((m) => m.old)) {
    await trx.deleteFrom('group_members').where('tenant_id', '=', m.tenantId).where('user_id', '=', m.userId).execute();
  }
  const joins = grouped.flatMap((m) =>
    (m.groupIds ?? []).map((groupId) => ({ group_id: groupId, tenant_id: m.tenantId, user_id: m.userId, created_at: now })),
  );
  if (joins.length > 0)
    await trx
      .insertInto('group_members')
      .values(joins)
      .onConflict((oc) => oc.doNothing())
      .execute();

  await writeFactors(trx, ctx, accepted, now);

  const events = accepted.map(({ record, id, old }) =>
    auditRows(ctx, {
      action: old ? 'iam.user.modified' : 'iam.user.created',
      actor,
      tenantId: old ? old.home_tenant_id : (record.homeTenantId ?? (scope.kind === 'tenant' ? scope.tenantId : null)),
      target: { type: 'user', id },
      details: { source: 'import', line: record.line, ...(record.factors && { factors: record.factors.length }) },
    }),
  );
  if (events.length > 0) {
    await trx
      .insertInto('audit_events')
      .values(events.map((e): Insertable<AuditEventsTable> => e.audit))
      .execute();
    await trx
      .insertInto('event_outbox')
      .values(events.map((e): Insertable<EventOutboxTable> => e.outbox))
      .execute();
  }
  return { created: created.length + invited, updated: accepted.length - created.length };
}

function newUser(record: ResolvedRecord, id: string, scope: Scope, now: Date): Insertable<UsersTable> {
  return {
    id,
    email: record.email,
    username: record.username ?? null,
    phone: record.phone ?? null,
    given_name: record.given_name ?? null,
    family_name: record.family_name ?? null,
    name: record.name ?? null,
    picture: record.picture ?? null,
    locale: record.locale ?? null,
    email_verified: record.email_verified ?? false,
    phone_verified: record.phone !== undefined && record.phone !== null && record.phone_verified === true,
    status: record.status ?? 'active',
    home_tenant_id: record.homeTenantId ?? (scope.kind === 'tenant' ? scope.tenantId : null),
    password_hash: record.password_hash ?? null,
    user_metadata: JSON.stringify(record.user_metadata ?? {}),
    app_metadata: JSON.stringify(record.app_metadata ?? {}),
    created_at: now,
    updated_at: now,
  };
}

/** The fields a record gives; an existing user keeps the others (and its home tenant). */
function changes(record: ResolvedRecord, now: Date) {
  const set: Partial<Record<keyof UsersTable, unknown>> = { updated_at: now };
  for (const key of [
    'username',
    'phone',
    'given_name',
    'family_name',
    'name',
    'picture',
    'locale',
    'email_verified',
    'phone_verified',
    'status',
    'password_hash',
  ] as const) {
    if (record[key] !== undefined) set[key] = record[key];
  }
  // A number the record gives is unverified unless the record says otherwise.
  if (record.phone !== undefined && record.phone_verified === undefined) set.phone_verified = false;
  if (record.user_metadata !== undefined) set.user_metadata = JSON.stringify(record.user_metadata);
  if (record.app_metadata !== undefined) set.app_metadata = JSON.stringify(record.app_metadata);
  return set as { updated_at: Date };
}

/** The record's factors replace the user's factors of the same kinds (so a second import does not add them twice). */
async function writeFactors(trx: Db, ctx: AppContext, accepted: { record: ResolvedRecord; id: string; old?: Existing }[], now: Date) {
  const rows: Insertable<MfaFactorsTable>[] = [];
  for (const { record, id, old } of accepted) {
    if (!record.factors) continue;
    const types = [...new Set(record.factors.map((f) => f.type))];
    if (old && types.length > 0) await trx.deleteFrom('mfa_factors').where('user_id', '=', id).where('type', 'in', types).execute();
    for (const factor of record.factors) {
      const factorId = ctx.ids.next();
      const base = { id: factorId, user_id: id, type: factor.type, confirmed: true, created_at: now };
      if (factor.type === 'otp')
        rows.push({ ...base, name: null, secret_sealed: sealSecret(ctx, factorId, factor.secret), destination_sealed: null });
      else if (factor.type === 'webauthn') {
        const { type: _type, ...credential } = factor;
        rows.push({ ...base, ...credential, secret_sealed: null, destination_sealed: null });
      } else
        rows.push({ ...base, name: null, secret_sealed: null, destination_sealed: sealDestination(ctx, factorId, factor.destination) });
    }
  }
  if (rows.length > 0) await trx.insertInto('mfa_factors').values(rows).execute();
}

/** Whether the line names roles that differ from those the user holds in that tenant. */
async function changesRoles(trx: Db, record: ResolvedRecord, userId: string): Promise<boolean> {
  for (const m of record.memberships.filter((m) => m.named)) {
    const held = await trx
      .selectFrom('membership_roles')
      .select('role_id')
      .where('user_id', '=', userId)
      .where('tenant_id', '=', m.tenantId)
      .execute();
    const want = new Set(m.roleIds);
    if (held.length !== want.size || held.some((r) => !want.has(r.role_id))) return true;
  }
  // Groups give roles: changing one's own is changing one's own roles (decision 368).
  for (const m of record.memberships.filter((m) => m.groupIds !== undefined)) {
    const held = await trx
      .selectFrom('group_members')
      .select('group_id')
      .where('user_id', '=', userId)
      .where('tenant_id', '=', m.tenantId)
      .execute();
    const want = new Set(m.groupIds);
    if (held.length !== want.size || held.some((g) => !want.has(g.group_id))) return true;
  }
  return false;
}
