import { readFile } from 'node:fs/promises';
import { gunzipSync } from 'node:zlib';

/** The 100,000 most common passwords (assets/README.md says where they come from). */
const LIST = new URL('../../../assets/common-passwords-100k.txt.gz', import.meta.url);

let loaded: Promise<Set<string>> | undefined;

/** Read once, lazily, into a Set of lower-cased entries (a few MB; the first password check pays ~50 ms). */
export function commonPasswords(): Promise<Set<string>> {
  loaded ??= readFile(LIST).then((gz) => new Set(gunzipSync(gz).toString('utf8').toLowerCase().split('\n').filter(Boolean)));
  loaded.catch(() => {
    loaded = undefined;
  });
  return loaded;
}

/** Whether a password is one of the common ones, whatever its letter case. */
export async function isCommonPassword(password: string): Promise<boolean> {
  return (await commonPasswords()).has(password.toLowerCase());
}
