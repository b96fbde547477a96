import { Type } from '@sinclair/typebox';

/** A permission as the API and the export's definitions create it (src/ops/transfer/definitions.ts). */
export const PermissionCreate = Type.Object(
  {
    key: Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9][A-Za-z0-9:._/-]*$' }),
    description: Type.Optional(Type.String({ maxLength: 1000 })),
    tenant: Type.Optional(Type.String({ format: 'uuid', description: 'System administrators: visible in this tenant only' })),
  },
  { additionalProperties: false },
);
