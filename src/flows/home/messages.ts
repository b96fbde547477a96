import type { Area } from '../../platform/i18n/index.js';

/** The server's front page (GET /): where a person goes from here. */
const en = {
  'home.title': 'Gatehouse',
  'home.intro': 'This server signs people in to the applications of its organization.',
  'home.account': 'Your account',
  'home.account_explain': 'Your profile, password, two-step verification, sessions and applications.',
  'home.api_reference': 'API reference',
  'home.api_reference_explain': 'Every route of the administration API, with its request and answer (OpenAPI).',
  'home.openid': 'OpenID Connect discovery',
  'home.openid_explain': 'What an application needs to sign its users in here: endpoints, keys, scopes.',
  'home.docs': 'Documentation',
  'home.docs_explain':
    'Installing, configuring, connecting an application and operating a cluster: the docs/ folder of the Gatehouse distribution.',
};

const de: Record<keyof typeof en, string> = {
  'home.title': 'Gatehouse',
  'home.intro': 'Dieser Server meldet Personen bei den Anwendungen seiner Organisation an.',
  'home.account': 'Ihr Konto',
  'home.account_explain': 'Ihr Profil, Passwort, Zwei-Faktor-Anmeldung, Sitzungen und Anwendungen.',
  'home.api_reference': 'API-Referenz',
  'home.api_reference_explain': 'Jede Route der Verwaltungs-API mit Anfrage und Antwort (OpenAPI).',
  'home.openid': 'OpenID-Connect-Discovery',
  'home.openid_explain': 'Was eine Anwendung braucht, um ihre Benutzer hier anzumelden: Endpunkte, Schlüssel, Scopes.',
  'home.docs': 'Dokumentation',
  'home.docs_explain':
    'Installieren, konfigurieren, eine Anwendung anbinden und einen Cluster betreiben: der Ordner docs/ der Gatehouse-Distribution.',
};

export const HOME = { en, de } as const satisfies Area;
