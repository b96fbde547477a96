import { Type } from '@sinclair/typebox';

/** A tenant's fields as the API and the export's definitions take them (src/ops/transfer/definitions.ts). */
const Slug = Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$' });
export const Status = Type.Union([Type.Literal('active'), Type.Literal('suspended')]);
export const Branding = Type.Object(
  {
    display_name: Type.Optional(Type.String({ maxLength: 200 })),
    logo_url: Type.Optional(Type.String({ format: 'uri', maxLength: 2048, pattern: '^https?://' })),
    primary_color: Type.Optional(Type.String({ pattern: '^#[0-9a-fA-F]{6}$' })),
  },
  { additionalProperties: false },
);

export const TenantCreate = Type.Object(
  { slug: Slug, name: Type.String({ minLength: 1, maxLength: 200 }), status: Type.Optional(Status), branding: Type.Optional(Branding) },
  { additionalProperties: false },
);
