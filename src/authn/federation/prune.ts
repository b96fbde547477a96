import type { AppContext } from '../../platform/context.js';

/**
 * The SAML replay cache keeps an assertion id only until the assertion expires: after
 * that the assertion is refused as expired anyway, so its id need not be remembered.
 */
export async function pruneSamlAssertions(ctx: AppContext): Promise<number> {
  const result = await ctx.db.deleteFrom('saml_assertions').where('expires_at', '<', ctx.clock.now()).executeTakeFirst();
  return Number(result.numDeletedRows);
}
