/**
 * Issue 14, the review (decision 278): whether the account's owner proved an identity
 * (its password and second factor, src/flows/federation/link.ts). An identity a tenant's
 * connection linked or provisioned on its own word reaches the account only while the
 * connection may speak for it (an account of that tenant alone); a proved one always.
 */
export const up = [`alter table user_identities add column proved boolean not null default false`];
