/**
 * Self-registration (issue 5): a user who signed up on their own is marked, so the sign-in
 * rule "verify your email first" (tenant policy signup.allow_unverified_sign_in) applies to
 * them and not to accounts an administrator created or imported (decision 151).
 */
export const up = [`alter table users add column self_registered boolean not null default false`];
