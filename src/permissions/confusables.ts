import unhomoglyph from 'unhomoglyph';

/** Zero-width spaces and joiners, soft hyphens, variation selectors…: invisible, so never part of a name's look. */
const IGNORABLE = /\p{Default_Ignorable_Code_Point}/gu;

/**
 * The confusable skeletons of a name (Unicode TR39 §4: NFD, each character replaced by its
 * prototype from the Unicode confusables data, which the `unhomoglyph` package carries; NFD
 * again), after NFKC and without default-ignorable code points (decision 195). TR39's data
 * does not follow letter case (capital Greek Τ is a T but small τ is no t; capital I is an l
 * but small i is not), so a name has three skeletons, of its form as written, in lower case
 * and in upper case; two names look alike when one of the three pairs is equal.
 */
export function skeletons(name: string): [string, string, string] {
  const base = name.normalize('NFKC').replace(IGNORABLE, '').trim();
  const skeleton = (form: string) => unhomoglyph(form.normalize('NFD')).normalize('NFD');
  return [skeleton(base), skeleton(base.toLowerCase()), skeleton(base.toUpperCase())];
}

/** Whether two names may be mistaken for each other by a reader (decision 195). */
export function looksAlike(a: string, b: string): boolean {
  const x = skeletons(a);
  const y = skeletons(b);
  return x.some((form, i) => form === y[i]);
}
