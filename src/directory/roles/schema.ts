import { Type } from '@sinclair/typebox';

/** A role's fields as the API and the export's definitions take them (src/ops/transfer/definitions.ts). */
export const roleFields = {
  name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\p{C}]+$', description: 'No control or invisible characters' }),
  description: Type.Optional(Type.String({ maxLength: 1000 })),
  permissions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 500 })),
};
