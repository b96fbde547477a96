import { Type } from '@sinclair/typebox';
import type { EndedAccess } from '../../platform/ports/user-access.js';

/** What an action that ends a user's access ended (an administrator's "sign out everywhere", the incident actions). */
export const Ended = Type.Object(
  {
    sessions_revoked: Type.Integer({ description: 'Gatehouse sessions ended' }),
    grants_revoked: Type.Integer({ description: 'OAuth grants revoked, each with its access and refresh tokens' }),
    backchannel_logouts: Type.Integer({ description: 'Back-channel logout notices queued for applications' }),
  },
  { title: 'EndedAccess' },
);
export const toEnded = (e: EndedAccess) => ({ sessions_revoked: e.sessions, grants_revoked: e.grants, backchannel_logouts: e.notices });
