/** The emails and text messages of sign-in: the blocked-address email, the MFA code by email and SMS. */
const en = {
  'mail.blocked_subject': '{brand}: sign-in from one address blocked',
  'mail.blocked_attempts':
    'Someone tried {failures} times in a row to sign in to your {brand} account ({email}) from the address {ip}, with a wrong password or code.',
  'mail.blocked_days':
    'We have blocked sign-in to your account from that address for {days} days. Sign-in from other addresses works as before.',
  'mail.blocked_not_you': 'If it was not you, you need do nothing; consider choosing a new password.',
  'mail.blocked_if_you': 'If it was you, unblock the address with the link below.',
  'mail.blocked_action': 'Unblock the address',
  'mail.code_subject': 'Your {brand} verification code',
  'mail.code_intro': 'Here is your {brand} verification code.',
  'mail.code_expiry': 'It expires in {minutes} minutes. If you did not try to sign in, change your password.',
  'sms.code': '{code} is your {brand} verification code. It expires in {minutes} minutes.',
} as const;

const de: Record<keyof typeof en, string> = {
  'mail.blocked_subject': '{brand}: Anmeldung von einer Adresse gesperrt',
  'mail.blocked_attempts':
    'Jemand hat {failures}-mal hintereinander versucht, sich von der Adresse {ip} mit einem falschen Passwort oder Code bei Ihrem {brand}-Konto ({email}) anzumelden.',
  'mail.blocked_days':
    'Wir haben die Anmeldung bei Ihrem Konto von dieser Adresse für {days} Tage gesperrt. Die Anmeldung von anderen Adressen funktioniert wie bisher.',
  'mail.blocked_not_you': 'Wenn Sie es nicht waren, müssen Sie nichts tun; wählen Sie aber am besten ein neues Passwort.',
  'mail.blocked_if_you': 'Wenn Sie es waren, entsperren Sie die Adresse mit dem Link unten.',
  'mail.blocked_action': 'Adresse entsperren',
  'mail.code_subject': 'Ihr Bestätigungscode für {brand}',
  'mail.code_intro': 'Hier ist Ihr Bestätigungscode für {brand}.',
  'mail.code_expiry': 'Er läuft in {minutes} Minuten ab. Wenn Sie sich nicht anmelden wollten, ändern Sie Ihr Passwort.',
  'sms.code': '{code} ist Ihr Bestätigungscode für {brand}. Er läuft in {minutes} Minuten ab.',
};

export const EMAILS = { en, de };
