import { type RawBuilder, sql } from 'kysely';
import type { Db } from '../../platform/db/database.js';
import { ACCESS_TOKEN_TTL_S } from '../tokens/lifetimes.js';

/** ID tokens live an hour (the OIDC engine's lifetime for them). */
export const ID_TOKEN_LIFETIME_S = 3600;
/**
 * Added to the grace of a retired key: for one cache period after a rotation other nodes
 * may still sign with it (keys/signing-keys.ts CACHE_MS), and clocks differ a little.
 */
export const PUBLISH_MARGIN_S = 60;

/** The longest a token signed by one of our keys may live: ID tokens, OIH access tokens, and each API's own lifetime. */
const longestTokenLifetime = () =>
  sql<number>`greatest(${sql.lit(ID_TOKEN_LIFETIME_S)}, ${sql.lit(ACCESS_TOKEN_TTL_S)}, coalesce((select max(token_lifetime) from apis), 0))`;

/**
 * Whether a key is in the JWKS at `now`: next and current keys always, a retired key until
 * every token it may have signed has expired, a withdrawn key (retired at once, an
 * incident) never again. Takes the time from the injected clock.
 */
export const isPublished = (now: Date): RawBuilder<boolean> =>
  sql<boolean>`(signing_keys.withdrawn_at is null and (signing_keys.status <> 'retired' or signing_keys.retired_at > ${now}::timestamptz - (${longestTokenLifetime()} + ${sql.lit(PUBLISH_MARGIN_S)}) * interval '1 second'))`;

/** Everything a node needs to sign and verify: the published keys, private parts still sealed. */
export function publishedKeyRows(db: Db, now: Date) {
  return db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'status', 'public_jwk', 'private_jwk_sealed', 'retired_at'])
    .where(isPublished(now))
    .execute();
}

/** Metadata of every key, newest first (never a private part). */
export function listSigningKeys(db: Db, now: Date) {
  return db
    .selectFrom('signing_keys')
    .select(['kid', 'alg', 'status', 'created_at', 'retired_at', 'withdrawn_at', isPublished(now).as('published')])
    .orderBy('created_at', 'desc')
    .orderBy('kid')
    .execute();
}

/** Serializes every change to the key set (first start on several nodes, rotations). */
export const lockSigningKeys = (db: Db) => sql`select pg_advisory_xact_lock(hashtext('gatehouse:signing-keys'))`.execute(db);
