/**
 * Actions (issue 16, src/ops/actions/): code or an HTTP endpoint that a tenant's or the
 * system's administrators bind to a trigger. Every trigger point of every layer calls
 * `runTrigger`; `main/` wires the runner (decision 344). A trigger with no binding answers
 * at once from the node's cache, without reading the database.
 */
export const TRIGGERS = [
  'post-login',
  'pre-user-registration',
  'post-user-registration',
  'credentials-exchange',
  'post-change-password',
  'send-phone-message',
] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** What a trigger point knows; the runner builds Auth0's `event` from it. */
export interface TriggerInput {
  /** The tenant of the sign-in, sign-up or application (null: the system tenant's or none). */
  tenantId: string | null;
  userId?: string | undefined;
  /** A user not stored yet (pre-user-registration): email and profile. */
  newUser?: Record<string, unknown> | undefined;
  clientId?: string | undefined;
  connection?: { name: string; strategy: string } | undefined;
  request?: { ip?: string | undefined; user_agent?: string | undefined; language?: string | undefined } | undefined;
  /** The OAuth request: scope, audience (resource), protocol. */
  transaction?: Record<string, unknown> | undefined;
  /** Trigger-specific fields of `event` (send-phone-message's `message_options`, …). */
  extra?: Record<string, unknown> | undefined;
}

export interface TriggerResult {
  /** An action denied (or failed with `on_error: deny`): the reason shown to the user. */
  denied?: { reason: string; code?: string } | undefined;
  accessTokenClaims: Record<string, unknown>;
  idTokenClaims: Record<string, unknown>;
  /** `api.multifactor.enable` was called. */
  mfa: boolean;
  /** `api.user.setUserMetadata` / `setAppMetadata` of pre-user-registration (post-login ones are written by the runner). */
  userMetadata?: Record<string, unknown> | undefined;
  appMetadata?: Record<string, unknown> | undefined;
  /** How many actions ran (0: nothing bound). */
  ran: number;
}

export interface ActionRunner {
  run(trigger: Trigger, input: TriggerInput): Promise<TriggerResult>;
  close(): Promise<void>;
}

export const NOTHING_RAN: TriggerResult = Object.freeze({ accessTokenClaims: {}, idTokenClaims: {}, mfa: false, ran: 0 }) as TriggerResult;

/** The one dispatcher every trigger point calls. */
export function runTrigger(ctx: { actions: ActionRunner }, trigger: Trigger, input: TriggerInput): Promise<TriggerResult> {
  return ctx.actions.run(trigger, input);
}
