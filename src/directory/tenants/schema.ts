import { Type } from '@sinclair/typebox';

/** A tenant's fields as the API and the export's definitions take them (src/ops/transfer/definitions.ts). */
const Slug = Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$' });
export const Status = Type.Union([Type.Literal('active'), Type.Literal('suspended')]);
/**
 * An image the hosted pages load: https only (a page served over https blocks an http image,
 * and its CSP allows https: alone), with none of the characters that would need escaping in
 * CSS (the pages draw it as `url("…")`). Checked again as it is drawn (src/platform/web/html.ts).
 */
const HttpsImage = (description: string) =>
  Type.String({ format: 'uri', maxLength: 2048, pattern: `^https://[^\\s"'()<>\\\\]+$`, description });
const Color = (description: string) => Type.String({ pattern: '^#[0-9a-fA-F]{6}$', description });
/** A tenant's words for catalog keys of one language (`signin.title`…): plain text, escaped as it is drawn. */
const Texts = Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]*(\\.[a-z0-9_]+)+$', maxLength: 100 }), Type.String({ maxLength: 1000 }), {
  additionalProperties: false,
  maxProperties: 300,
});
export const Branding = Type.Object(
  {
    display_name: Type.Optional(Type.String({ maxLength: 200 })),
    logo_url: Type.Optional(HttpsImage('The logo above every hosted page and email')),
    favicon_url: Type.Optional(HttpsImage("The hosted pages' icon")),
    background_image_url: Type.Optional(HttpsImage("The hosted pages' background, behind the card")),
    primary_color: Type.Optional(Color('Buttons')),
    background_color: Type.Optional(Color('The page behind the card (light theme)')),
    text_color: Type.Optional(Color('Text (light theme)')),
    link_color: Type.Optional(Color('Links (light theme)')),
    font: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9][A-Za-z0-9 -]{0,62}$',
        description: "A font installed on the reader's system, before system-ui",
      }),
    ),
    corner_radius: Type.Optional(Type.Integer({ minimum: 0, maximum: 32, description: 'Pixels; default 8' })),
    theme: Type.Optional(
      Type.Union([Type.Literal('light'), Type.Literal('dark'), Type.Literal('auto')], {
        description: "Default light; auto follows the reader's system",
      }),
    ),
    texts: Type.Optional(
      Type.Object(
        { en: Type.Optional(Texts), de: Type.Optional(Texts) },
        { additionalProperties: false, description: "The tenant's own words over the catalog's, per language and key" },
      ),
    ),
  },
  { additionalProperties: false },
);

export const TenantCreate = Type.Object(
  { slug: Slug, name: Type.String({ minLength: 1, maxLength: 200 }), status: Type.Optional(Status), branding: Type.Optional(Branding) },
  { additionalProperties: false },
);
