/** Passwordless sign-in (src/passwordless/, src/ui/passwordless-*.ts): pages, the email and the text message. */
const en = {
  'passwordless.title': 'Sign in without a password',
  'passwordless.intro': 'We send you a one-time code or a sign-in link instead of asking for your password.',
  'passwordless.email_heading': 'By email',
  'passwordless.email_label': 'Email or username',
  'passwordless.send_code': 'Email me a code',
  'passwordless.send_link': 'Email me a sign-in link',
  'passwordless.sms_heading': 'By text message',
  'passwordless.sms_label': 'Email or username',
  'passwordless.sms_hint': 'We text a code to the phone number on your account.',
  'passwordless.send_sms': 'Text me a code',
  'passwordless.missing_login': 'Enter your email address or username.',
  'passwordless.too_many_sends': 'We have sent too many codes to this account in the last hour. Wait {minutes} minutes and try again.',
  'passwordless.sent_title': 'Check your messages',
  'passwordless.sent_email_code': 'If an account matches what you typed, we have emailed it a code. It works once, for 10 minutes.',
  'passwordless.sent_email_link':
    'If an account matches what you typed, we have emailed it a sign-in link. Open it in this browser; it works once, for 10 minutes.',
  'passwordless.sent_sms_code':
    'If an account with a phone number matches what you typed, we have texted it a code. It works once, for 10 minutes.',
  'passwordless.code_label': 'Code',
  'passwordless.sign_in': 'Sign in',
  'passwordless.wrong_code': 'That code is not right, or it has expired. Try again or ask for a new one.',
  'passwordless.too_many_attempts': 'Too many attempts. Wait {seconds} seconds and try again, or ask for a new code.',
  'passwordless.start_again': 'Ask for a new code or link',
  'passwordless.use_password': 'Sign in with a password instead',
  'passwordless.link_title': 'Sign in',
  'passwordless.link_intro': 'Select the button to finish signing in.',
  'passwordless.wrong_browser_title': 'Open the link in the same browser',
  'passwordless.wrong_browser':
    'For your safety this link works only in the browser where you asked for it. Open it there, or ask for a new link in this browser.',
  'passwordless.disabled_title': 'Not available',
  'passwordless.disabled': 'This application does not offer sign-in without a password.',
  'passwordless.no_interaction': 'Start from the application you want to sign in to.',
  'passwordless.email_subject': 'Your sign-in to {brand}',
  'passwordless.email_code_text': 'Use this code to sign in to {brand}. It works once, for 10 minutes.',
  'passwordless.email_link_text':
    'Select the button to sign in to {brand}. The link works once, for 10 minutes, in the browser where you asked for it.',
  'passwordless.email_link_action': 'Sign in',
  'passwordless.sms_text': '{code} is your {brand} sign-in code. It works once, for 10 minutes.',
} as const;

const de: Record<keyof typeof en, string> = {
  'passwordless.title': 'Ohne Passwort anmelden',
  'passwordless.intro': 'Wir senden Ihnen einen Einmalcode oder einen Anmeldelink, statt nach Ihrem Passwort zu fragen.',
  'passwordless.email_heading': 'Per E-Mail',
  'passwordless.email_label': 'E-Mail-Adresse oder Benutzername',
  'passwordless.send_code': 'Code per E-Mail senden',
  'passwordless.send_link': 'Anmeldelink per E-Mail senden',
  'passwordless.sms_heading': 'Per SMS',
  'passwordless.sms_label': 'E-Mail-Adresse oder Benutzername',
  'passwordless.sms_hint': 'Wir senden einen Code per SMS an die Telefonnummer Ihres Kontos.',
  'passwordless.send_sms': 'Code per SMS senden',
  'passwordless.missing_login': 'Geben Sie Ihre E-Mail-Adresse oder Ihren Benutzernamen ein.',
  'passwordless.too_many_sends':
    'An dieses Konto wurden in der letzten Stunde zu viele Codes gesendet. Warten Sie {minutes} Minuten und versuchen Sie es erneut.',
  'passwordless.sent_title': 'Sehen Sie in Ihren Nachrichten nach',
  'passwordless.sent_email_code':
    'Wenn ein Konto zu Ihrer Eingabe passt, haben wir ihm einen Code per E-Mail gesendet. Er gilt einmal, 10 Minuten lang.',
  'passwordless.sent_email_link':
    'Wenn ein Konto zu Ihrer Eingabe passt, haben wir ihm einen Anmeldelink per E-Mail gesendet. Öffnen Sie ihn in diesem Browser; er gilt einmal, 10 Minuten lang.',
  'passwordless.sent_sms_code':
    'Wenn ein Konto mit Telefonnummer zu Ihrer Eingabe passt, haben wir ihm einen Code per SMS gesendet. Er gilt einmal, 10 Minuten lang.',
  'passwordless.code_label': 'Code',
  'passwordless.sign_in': 'Anmelden',
  'passwordless.wrong_code': 'Dieser Code ist nicht richtig oder abgelaufen. Versuchen Sie es erneut oder fordern Sie einen neuen an.',
  'passwordless.too_many_attempts':
    'Zu viele Versuche. Warten Sie {seconds} Sekunden und versuchen Sie es erneut, oder fordern Sie einen neuen Code an.',
  'passwordless.start_again': 'Neuen Code oder Link anfordern',
  'passwordless.use_password': 'Stattdessen mit Passwort anmelden',
  'passwordless.link_title': 'Anmelden',
  'passwordless.link_intro': 'Wählen Sie die Schaltfläche, um die Anmeldung abzuschließen.',
  'passwordless.wrong_browser_title': 'Öffnen Sie den Link im selben Browser',
  'passwordless.wrong_browser':
    'Zu Ihrer Sicherheit funktioniert dieser Link nur in dem Browser, in dem Sie ihn angefordert haben. Öffnen Sie ihn dort oder fordern Sie in diesem Browser einen neuen Link an.',
  'passwordless.disabled_title': 'Nicht verfügbar',
  'passwordless.disabled': 'Diese Anwendung bietet keine Anmeldung ohne Passwort an.',
  'passwordless.no_interaction': 'Beginnen Sie bei der Anwendung, bei der Sie sich anmelden möchten.',
  'passwordless.email_subject': 'Ihre Anmeldung bei {brand}',
  'passwordless.email_code_text': 'Melden Sie sich mit diesem Code bei {brand} an. Er gilt einmal, 10 Minuten lang.',
  'passwordless.email_link_text':
    'Wählen Sie die Schaltfläche, um sich bei {brand} anzumelden. Der Link gilt einmal, 10 Minuten lang, in dem Browser, in dem Sie ihn angefordert haben.',
  'passwordless.email_link_action': 'Anmelden',
  'passwordless.sms_text': '{code} ist Ihr Anmeldecode für {brand}. Er gilt einmal, 10 Minuten lang.',
};

export const PASSWORDLESS = { en, de };
