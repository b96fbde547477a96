import { pbkdf2Sync, randomBytes, scryptSync } from 'node:crypto';
import { hash as argon2Hash } from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';

/** Legacy password hashes for the import tests: every accepted format, and hashes at and beyond the work bounds. */

export const ab64 = (b: Buffer) => b.toString('base64').replaceAll('+', '.').replace(/=+$/, '');

/** Hashes of PASSWORD in every accepted format, made here with the algorithms' own definitions. */
export async function hashesOf(password: string): Promise<Record<string, string>> {
  const salt = randomBytes(16);
  const bcrypt = await bcryptHash(password, 4);
  return {
    bcrypt2b: bcrypt,
    bcrypt2a: bcrypt.replace('$2b$', '$2a$'),
    bcrypt2y: bcrypt.replace('$2b$', '$2y$'),
    argon2i: await argon2Hash(password, { algorithm: 1, memoryCost: 4096, timeCost: 2 }),
    argon2id: await argon2Hash(password, { algorithm: 2, memoryCost: 4096, timeCost: 1 }),
    pbkdf2Sha256: `$pbkdf2-sha256$1000$${ab64(salt)}$${ab64(pbkdf2Sync(password, salt, 1000, 32, 'sha256'))}`,
    pbkdf2Sha512: `$pbkdf2-sha512$1000$${ab64(salt)}$${ab64(pbkdf2Sync(password, salt, 1000, 64, 'sha512'))}`,
    pbkdf2Sha1: `$pbkdf2$1000$${ab64(salt)}$${ab64(pbkdf2Sync(password, salt, 1000, 20, 'sha1'))}`,
    djangoSha256: `pbkdf2_sha256$1000$seasalt$${pbkdf2Sync(password, 'seasalt', 1000, 32, 'sha256').toString('base64')}`,
    djangoSha1: `pbkdf2_sha1$1000$seasalt$${pbkdf2Sync(password, 'seasalt', 1000, 20, 'sha1').toString('base64')}`,
    scrypt: `$scrypt$ln=10,r=8,p=1$${ab64(salt)}$${ab64(scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 }))}`,
  };
}

/** The example of firebase/scrypt's README (project parameters, the user's salt and hash of "user1password"). */
export const FIREBASE = {
  signerKey: 'jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==',
  saltSeparator: 'Bw==',
  rounds: 8,
  memCost: 14,
  salt: '42xEC+ixf3L2lw==',
  hash: 'lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==',
  password: 'user1password',
};
export const firebaseString = `$firebase-scrypt$r=8,m=14$${FIREBASE.signerKey}$${FIREBASE.saltSeparator}$${FIREBASE.salt}$${FIREBASE.hash}`;

const SALT = 'c29tZXNhbHRzb21lc2FsdA';
const B64 = (bytes: number) => ab64(Buffer.alloc(bytes, 7));
const firebaseWith = (rounds: number, memCost: number) =>
  `$firebase-scrypt$r=${rounds},m=${memCost}$${FIREBASE.signerKey}$${FIREBASE.saltSeparator}$${FIREBASE.salt}$${FIREBASE.hash}`;

/** Hashes just beyond one work bound each (and the bound itself, which is accepted). */
export const TOO_EXPENSIVE = {
  'argon2 m': `$argon2id$v=19$m=262145,t=2,p=1$${SALT}$${B64(32)}`,
  'argon2 t': `$argon2i$v=19$m=19456,t=11,p=1$${SALT}$${B64(32)}`,
  'argon2 p': `$argon2d$v=19$m=19456,t=2,p=9$${SALT}$${B64(32)}`,
  'pbkdf2 rounds': `$pbkdf2-sha256$2000001$${SALT}$${B64(32)}`,
  'pbkdf2 key length': `$pbkdf2$1000$${SALT}$${B64(65)}`,
  'django pbkdf2 rounds': `pbkdf2_sha256$2000001$seasalt$${Buffer.alloc(32, 7).toString('base64')}`,
  'django pbkdf2 key length': `pbkdf2_sha512$1000$seasalt$${Buffer.alloc(65, 7).toString('base64')}`,
  'bcrypt cost': `$2b$15$${'a'.repeat(53)}`,
  'scrypt memory': `$scrypt$ln=18,r=8,p=2$${SALT}$${B64(32)}`,
  'scrypt p': `$scrypt$ln=4,r=1,p=17$${SALT}$${B64(32)}`,
  'scrypt key length': `$scrypt$ln=10,r=8,p=1$${SALT}$${B64(65)}`,
  'firebase memory': firebaseWith(16, 18),
};
export const AT_THE_BOUNDS = {
  argon2: `$argon2id$v=19$m=262144,t=10,p=8$${SALT}$${B64(32)}`,
  pbkdf2: `$pbkdf2-sha512$2000000$${SALT}$${B64(64)}`,
  bcrypt: `$2b$14$${'a'.repeat(53)}`,
  scrypt: `$scrypt$ln=17,r=8,p=2$${SALT}$${B64(64)}`,
  'scrypt p': `$scrypt$ln=4,r=1,p=16$${SALT}$${B64(32)}`,
  firebase: firebaseWith(8, 18),
};
