import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { sql } from 'kysely';
import { createGroup } from '../../directory/groups/groups.js';
import type { Scope } from '../../directory/permissions/effective.js';
import { createPermission } from '../../directory/permissions/permissions.js';
import { PermissionCreate } from '../../directory/permissions/schema.js';
import { assertConsistent, exportablePolicies, PoliciesPatch, resolvePolicies, updatePolicies } from '../../directory/policies/policies.js';
import { addRoleApiPermissions } from '../../directory/roles/api-permissions.js';
import { createRole } from '../../directory/roles/roles.js';
import { roleFields } from '../../directory/roles/schema.js';
import { TenantCreate } from '../../directory/tenants/schema.js';
import { createTenant } from '../../directory/tenants/tenants.js';
import type { Actor } from '../../platform/audit/record.js';
import type { AppContext } from '../../platform/context.js';
import type { Db } from '../../platform/db/database.js';
import { AppError } from '../../platform/errors.js';
import { validationError, validatorCompiler } from '../../platform/http/validation.js';
import { LineError } from './records.js';

/**
 * The definitions an export carries before its users (decision 143): the tenants its
 * memberships and home tenants name (slug, name, status, branding, policies), their own
 * permissions and roles, and the custom global roles members hold. One typed line each:
 * `{"gatehouse_tenant": …}`, `{"gatehouse_permission": …}`, `{"gatehouse_role": …}`.
 * Tenants are named by slug (ids differ between Gatehouses); a role's API permissions by
 * the API's identifier.
 */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
const TenantDefinition = Type.Object(
  { ...TenantCreate.properties, policies: Type.Optional(PoliciesPatch) },
  { additionalProperties: false },
);
const PermissionDefinition = Type.Object(
  { key: PermissionCreate.properties.key, description: PermissionCreate.properties.description, tenant: Nullable(Type.String()) },
  { additionalProperties: false },
);
const RoleDefinition = Type.Object(
  {
    ...roleFields,
    tenant: Nullable(Type.String()),
    api_permissions: Type.Optional(
      Type.Array(
        Type.Object({ api: Type.String({ minLength: 1, maxLength: 2048 }), value: Type.String({ minLength: 1, maxLength: 280 }) }),
        {
          maxItems: 1000,
        },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A tenant's group with its roles by name (decision 368). */
const GroupDefinition = Type.Object(
  {
    name: roleFields.name,
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    tenant: Type.String({ minLength: 1, maxLength: 200 }),
    roles: Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 }),
  },
  { additionalProperties: false },
);

const SCHEMAS = {
  gatehouse_tenant: TenantDefinition,
  gatehouse_permission: PermissionDefinition,
  gatehouse_role: RoleDefinition,
  gatehouse_group: GroupDefinition,
};
export type DefinitionKind = keyof typeof SCHEMAS;
export interface Definition {
  kind: DefinitionKind;
  value: unknown;
}

/** A line that is a definition: one key, a definition kind. */
export function asDefinition(raw: Record<string, unknown>): Definition | undefined {
  const keys = Object.keys(raw);
  if (keys.length !== 1 || !(keys[0]! in SCHEMAS)) return undefined;
  return { kind: keys[0] as DefinitionKind, value: raw[keys[0]!] };
}

/** Request-body rules (strict types, no unknown fields, storable text), as the API's own routes check them. */
const validators = Object.fromEntries(
  Object.entries(SCHEMAS).map(([kind, schema]) => [kind, validatorCompiler({ schema, httpPart: 'body' } as never)]),
) as unknown as Record<DefinitionKind, ((data: unknown) => boolean) & { errors?: unknown }>;

function parse<K extends DefinitionKind>(kind: K, value: unknown): Static<(typeof SCHEMAS)[K]> {
  const validate = validators[kind];
  if (!validate(value)) {
    const error = validationError((validate.errors ?? []) as never, kind);
    throw new LineError('invalid_definition', `${kind}: ${error.message}`);
  }
  return value as Static<(typeof SCHEMAS)[K]>;
}

export interface DefinitionCounts {
  tenants: number;
  permissions: number;
  roles: number;
  groups: number;
}

export type ImportWarningCode = 'definition_ignored' | 'unresolved_api_permission';
export interface ImportWarning {
  line: number;
  warning: ImportWarningCode;
  message: string;
}

/**
 * Applies definition lines (decision 143). Only a system administrator's import creates
 * anything, and only what the caller could create through the API (iam.tenant.create, …);
 * what exists already (a tenant by slug, a permission by key, a role by name in the tenant)
 * is left as it is. A tenant administrator's import ignores definitions, with a warning.
 * Everything goes through the domain functions, so it is checked and audited as usual.
 */
export class DefinitionWriter {
  readonly created: DefinitionCounts = { tenants: 0, permissions: 0, roles: 0, groups: 0 };
  readonly existing: DefinitionCounts = { tenants: 0, permissions: 0, roles: 0, groups: 0 };
  private ignored = false;

  constructor(
    private readonly ctx: AppContext,
    private readonly scope: Scope,
    private readonly actor: Actor,
    private readonly warn: (warning: ImportWarning) => void,
  ) {}

  async apply(line: number, definition: Definition): Promise<void> {
    if (this.scope.kind !== 'system') {
      if (!this.ignored) {
        this.warn({
          line,
          warning: 'definition_ignored',
          message: 'Tenants, permissions and roles are created by system administrators only',
        });
      }
      this.ignored = true;
      return;
    }
    try {
      if (definition.kind === 'gatehouse_tenant') await this.tenant(parse('gatehouse_tenant', definition.value));
      else if (definition.kind === 'gatehouse_permission') await this.permission(parse('gatehouse_permission', definition.value));
      else if (definition.kind === 'gatehouse_group') await this.group(parse('gatehouse_group', definition.value));
      else await this.role(line, parse('gatehouse_role', definition.value));
    } catch (error) {
      if (error instanceof AppError) throw new LineError('invalid_definition', `${error.code}: ${error.message}`);
      throw error;
    }
  }

  private need(...permissions: string[]) {
    const missing = permissions.filter((p) => !(this.scope.held.has('all') || this.scope.held.has(p)));
    if (missing.length > 0) throw new LineError('forbidden', `Creating this needs ${missing.join(', ')}`);
  }

  private async tenant(definition: Static<typeof TenantDefinition>) {
    if (await tenantBySlug(this.ctx.db, definition.slug)) {
      this.existing.tenants++;
      return;
    }
    const { policies, ...input } = definition;
    const hasPolicies = policies !== undefined && Object.keys(policies).length > 0;
    this.need('iam.tenant.create', ...(hasPolicies ? ['iam.tenant.update'] : []));
    // The policies are checked before the tenant exists: it is never created without them.
    if (hasPolicies) assertConsistent(resolvePolicies(policies));
    const tenant = await createTenant(this.ctx, this.actor, input);
    if (hasPolicies) await updatePolicies(this.ctx, this.scope, this.actor, tenant.id, policies);
    this.created.tenants++;
  }

  private async permission(definition: Static<typeof PermissionDefinition>) {
    const tenantId = await this.tenantId(definition.tenant);
    const clash = await this.ctx.db
      .selectFrom('permissions')
      .select('id')
      .where('key', '=', definition.key)
      .where((eb) =>
        tenantId === null ? eb('tenant_id', 'is', null) : eb.or([eb('tenant_id', 'is', null), eb('tenant_id', '=', tenantId)]),
      )
      .executeTakeFirst();
    if (clash) {
      this.existing.permissions++;
      return;
    }
    this.need('iam.permission.create');
    await createPermission(this.ctx, this.scope, this.actor, {
      key: definition.key,
      ...(definition.description !== undefined && { description: definition.description }),
      ...(tenantId !== null && { tenant: tenantId }),
    });
    this.created.permissions++;
  }

  private async role(line: number, definition: Static<typeof RoleDefinition>) {
    const tenantId = await this.tenantId(definition.tenant);
    const clash = await this.ctx.db
      .selectFrom('roles')
      .select('id')
      .where(sql<boolean>`lower(name) = lower(${definition.name})`)
      .where((eb) =>
        tenantId === null ? eb('tenant_id', 'is', null) : eb.or([eb('tenant_id', 'is', null), eb('tenant_id', '=', tenantId)]),
      )
      .executeTakeFirst();
    if (clash) {
      this.existing.roles++;
      return;
    }
    const wanted = definition.api_permissions ?? [];
    this.need('iam.role.create', ...(wanted.length > 0 ? ['iam.role.update'] : []));
    const role = await createRole(this.ctx, this.scope, this.actor, {
      name: definition.name,
      ...(definition.description !== undefined && { description: definition.description }),
      ...(definition.permissions !== undefined && { permissions: definition.permissions }),
      ...(tenantId !== null && { tenant: tenantId }),
    });
    this.created.roles++;
    if (wanted.length === 0) return;
    // An API is named by its identifier; a tenant role's APIs are the tenant's own.
    const found = await this.ctx.db
      .selectFrom('api_permissions as p')
      .innerJoin('apis as a', 'a.id', 'p.api_id')
      .select(['p.api_id', 'a.identifier', 'p.value'])
      .where('a.identifier', 'in', [...new Set(wanted.map((w) => w.api))])
      .$if(tenantId !== null, (q) => q.where('a.tenant_id', '=', tenantId!))
      .execute();
    const resolved = wanted.flatMap((w) => found.filter((f) => f.identifier === w.api && f.value === w.value));
    const missing = wanted.filter((w) => !found.some((f) => f.identifier === w.api && f.value === w.value));
    if (resolved.length > 0) {
      await addRoleApiPermissions(
        this.ctx,
        this.scope,
        this.actor,
        role.id,
        resolved.map((r) => ({ api_id: r.api_id, value: r.value })),
      );
    }
    if (missing.length > 0) {
      this.warn({
        line,
        warning: 'unresolved_api_permission',
        message: `Role ${JSON.stringify(definition.name)} was created without ${missing.map((m) => `${m.api} ${m.value}`).join(', ')}: no such API permission here (create the API, then add them to the role)`,
      });
    }
  }

  /** A group by name in its tenant, created with its roles (each the tenant's own of that name, else the global one). */
  private async group(definition: Static<typeof GroupDefinition>) {
    const tenantId = (await this.tenantId(definition.tenant)) as string;
    const clash = await this.ctx.db
      .selectFrom('groups')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where(sql<boolean>`lower(name) = lower(${definition.name})`)
      .executeTakeFirst();
    if (clash) {
      this.existing.groups++;
      return;
    }
    this.need('iam.group.write');
    const roles: string[] = [];
    for (const name of new Set(definition.roles)) {
      const found = await this.ctx.db
        .selectFrom('roles')
        .select(['id', 'tenant_id'])
        .where(sql<boolean>`lower(name) = lower(${name})`)
        .where((eb) => eb.or([eb('tenant_id', 'is', null), eb('tenant_id', '=', tenantId)]))
        .execute();
      const role = found.find((r) => r.tenant_id === tenantId) ?? found[0];
      if (!role) throw new LineError('unknown_role', `No role ${JSON.stringify(name)} in the tenant`);
      roles.push(role.id);
    }
    await createGroup(this.ctx, this.scope, this.actor, tenantId, {
      name: definition.name,
      ...(definition.description !== undefined && { description: definition.description }),
      roles,
    });
    this.created.groups++;
  }

  private async tenantId(slug: string | null): Promise<string | null> {
    if (slug === null) return null;
    const id = await tenantBySlug(this.ctx.db, slug);
    if (!id) throw new LineError('unknown_tenant', `No tenant ${JSON.stringify(slug)}`);
    return id;
  }
}

async function tenantBySlug(db: Db, slug: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('tenants')
    .select('id')
    .where((eb) => eb(eb.fn('lower', ['slug']), '=', slug.toLowerCase()))
    .executeTakeFirst();
  return row?.id;
}

/**
 * The definition lines of an export: the non-system tenants users are members or homed in,
 * their permissions and roles (and the system tenant's own), the custom global roles members hold and the custom global
 * permissions those roles carry. Tenants first, then permissions, then roles (each needs
 * the ones before).
 */
export async function definitionLines(db: Db): Promise<string> {
  const tenants = await db
    .selectFrom('tenants')
    .selectAll()
    .where('is_system', '=', false)
    .where((eb) =>
      eb.or([
        eb('id', 'in', eb.selectFrom('memberships').select('tenant_id')),
        eb(
          'id',
          'in',
          eb.selectFrom('users').select('home_tenant_id').where('home_tenant_id', 'is not', null).$narrowType<{ home_tenant_id: string }>(),
        ),
      ]),
    )
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  // The system tenant is no definition (every Gatehouse has one), but its own roles and permissions are.
  const system = await db.selectFrom('tenants').select(['id', 'slug']).where('is_system', '=', true).executeTakeFirstOrThrow();
  const slugs = new Map([[system.id, system.slug], ...tenants.map((t): [string, string] => [t.id, t.slug])]);
  const ids = [...slugs.keys()];
  const roles = await db
    .selectFrom('roles')
    .selectAll()
    .where('is_system', '=', false)
    .where((eb) =>
      eb.or([
        eb('tenant_id', 'in', ids),
        eb.and([eb('tenant_id', 'is', null), eb('id', 'in', eb.selectFrom('membership_roles').select('role_id'))]),
        // …and the custom global roles groups hold (decision 368).
        eb.and([eb('tenant_id', 'is', null), eb('id', 'in', eb.selectFrom('group_roles').select('role_id'))]),
      ]),
    )
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const keys = [...new Set(roles.flatMap((r) => r.permissions))];
  const permissions = await db
    .selectFrom('permissions')
    .selectAll()
    .where('is_system', '=', false)
    .where((eb) =>
      eb.or([eb('tenant_id', 'in', ids), ...(keys.length > 0 ? [eb.and([eb('tenant_id', 'is', null), eb('key', 'in', keys)])] : [])]),
    )
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  const apiPermissions =
    roles.length === 0
      ? []
      : await db
          .selectFrom('role_api_permissions as r')
          .innerJoin('apis as a', 'a.id', 'r.api_id')
          .select(['r.role_id', 'a.identifier', 'r.value'])
          .where(
            'r.role_id',
            'in',
            roles.map((r) => r.id),
          )
          .orderBy('a.identifier')
          .orderBy('r.value')
          .execute();
  const slug = (tenantId: string | null) => (tenantId === null ? null : slugs.get(tenantId)!);
  // The groups of those tenants, with their roles by name (decision 368).
  const groups = await db.selectFrom('groups').selectAll().where('tenant_id', 'in', ids).orderBy('created_at').orderBy('id').execute();
  const groupRoles =
    groups.length === 0
      ? []
      : await db
          .selectFrom('group_roles as gr')
          .innerJoin('roles as r', 'r.id', 'gr.role_id')
          .select(['gr.group_id', 'r.name'])
          .where(
            'gr.group_id',
            'in',
            groups.map((g) => g.id),
          )
          .orderBy('r.name')
          .execute();
  const lines = [
    ...tenants.map((t) => ({
      gatehouse_tenant: {
        slug: t.slug,
        name: t.name,
        status: t.status,
        branding: t.branding ?? {},
        ...(t.policies && Object.keys(t.policies).length > 0 && { policies: exportablePolicies(t.policies) }),
      },
    })),
    ...permissions.map((p) => ({ gatehouse_permission: { key: p.key, description: p.description, tenant: slug(p.tenant_id) } })),
    ...roles.map((r) => {
      const apis = apiPermissions.filter((a) => a.role_id === r.id).map((a) => ({ api: a.identifier, value: a.value }));
      return {
        gatehouse_role: {
          name: r.name,
          description: r.description,
          permissions: r.permissions,
          tenant: slug(r.tenant_id),
          ...(apis.length > 0 && { api_permissions: apis }),
        },
      };
    }),
    ...groups.map((g) => ({
      gatehouse_group: {
        name: g.name,
        description: g.description,
        tenant: slug(g.tenant_id),
        roles: groupRoles.filter((r) => r.group_id === g.id).map((r) => r.name),
      },
    })),
  ];
  return lines.map((line) => `${JSON.stringify(line)}\n`).join('');
}
