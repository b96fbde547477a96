import { catalog, type KeysOf, PLATFORM_AREAS, type Translate as TranslateOf } from '../../platform/i18n/index.js';
import { ACCOUNT } from '../account/messages.js';
import { FEDERATION_MESSAGES } from '../federation/messages.js';
import { HOME } from '../home/messages.js';
import { INVITATION } from '../invitation/messages.js';
import { PASSWORDLESS } from '../passwordless/messages.js';
import { RECOVERY } from '../recovery/messages.js';
import { SIGNUP } from '../signup/messages.js';

/**
 * The flows' catalog: the platform's words (src/platform/i18n) and each flow's own, which
 * the flow keeps in its folder (`messages.ts`, one object per locale whose German names
 * every English key: a missing translation does not compile). A flow's pages and emails
 * take their words from here (decision 226).
 */
const AREAS = [...PLATFORM_AREAS, SIGNUP, PASSWORDLESS, RECOVERY, INVITATION, ACCOUNT, FEDERATION_MESSAGES, HOME] as const;

/** A key of the flows' catalog. */
export type MessageKey = KeysOf<(typeof AREAS)[number]>;
export type Translate = TranslateOf<MessageKey>;

const FLOWS = catalog(AREAS);
/** The messages of one locale; an unknown key falls back to English, then to the key itself. */
export const translator = FLOWS.translator;
/** Every message of a locale, by key (for the catalog's own checks). */
export const catalogOf = FLOWS.messages;
