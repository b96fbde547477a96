import unhomoglyph from 'unhomoglyph';

/** Latin small capitals, which neither NFKD nor TR39's data map to letters, and the capitals they show. */
const SMALL_CAPITALS = new Map([...'ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ'].map((c, i) => [c, 'ABCDEFGHIJKLMNOPRSTUVWYZ'[i] as string]));
const MARKS = /\p{M}/gu;

/** Compatibility forms decomposed, accents and other marks gone: `İ`, `I\u0307` and `I̲` read as `I`. */
const bare = (form: string) => form.normalize('NFKD').replace(MARKS, '');

/**
 * The comparison keys of a name (decision 195): NFKD without marks, small capitals as
 * capitals, then its Unicode TR39 §4 skeleton (each character replaced by its prototype
 * from the confusables data, which the `unhomoglyph` package carries), upper case, and only
 * A–Z and 0–9 kept, so separators, blanks (`U+2800`) and invisible characters count for
 * nothing. TR39's data does not follow letter case (capital Greek Τ is a T but small τ is
 * no t; capital I is an l but small i is not), so a name has three keys, of its form as
 * written, in lower case and in upper case; two names look alike when one pair is equal.
 */
export function comparisonKeys(name: string): [string, string, string] {
  const base = [...bare(name)].map((c) => SMALL_CAPITALS.get(c) ?? c).join('');
  const key = (form: string) =>
    bare(unhomoglyph(form.normalize('NFD')))
      .toUpperCase()
      .replace(/[^A-Z0-9]/g, '');
  return [key(base), key(base.toLowerCase()), key(base.toUpperCase())];
}

/** Whether two names may be mistaken for each other by a reader (decision 195). */
export function looksAlike(a: string, b: string): boolean {
  const x = comparisonKeys(a);
  const y = comparisonKeys(b);
  return x.some((form, i) => form === y[i]);
}
