/** Sign-in through a connection (src/flows/federation/): the buttons, the link page, the directory form and the refusals. */
const en = {
  'federation.continue_with': 'Continue with {name}',
  'federation.or': 'or',
  'federation.error_title': 'Sign-in did not work',
  'federation.cancelled': 'The sign-in at {name} was cancelled.',
  'federation.provider_error': '{name} could not sign you in. Go back to the application and try again.',
  'federation.invalid_response':
    'The answer from {name} could not be checked, so it was refused. Go back to the application and try again.',
  'federation.unreachable': '{name} cannot be reached right now. Try again in a few minutes.',
  'federation.misconfigured': 'Sign-in with {name} is not set up correctly. Tell the administrator of this application.',
  'federation.state_invalid':
    'This sign-in is not valid: it was used already, has expired, or was started elsewhere. Go back to the application and start again.',
  'federation.wrong_browser': 'This sign-in was started in another browser. Go back to the application and start again in this one.',
  'federation.connection_unknown': 'This application does not offer the sign-in it asked for.',
  'federation.email_required':
    '{name} did not tell us your email address, which an account here needs. Ask the administrator to let {name} share it.',
  'federation.account_disabled': 'This account is disabled.',
  'federation.account_conflict': 'An account with your email address exists already. Sign in with it instead.',
  'federation.link_title': 'You already have an account',
  'federation.link_intro':
    'An account with the email address {email} exists already. Prove that it is yours with its password, and {name} is added to it as a way to sign in.',
  'federation.link_submit': 'Link and sign in',
  'federation.link_wrong': 'That password is not right.',
  'federation.directory_title': 'Sign in with {name}',
  'federation.directory_username': 'Username',
  'federation.directory_wrong': 'Wrong username or password.',
  'federation.back_to_account': 'Back to your linked accounts',
  'federation.identity_taken': 'That account at {name} is linked to another user here already, so it was not linked to yours.',
  'federation.link_session_changed':
    'You are no longer signed in to the account that started this link, or it needs your second factor again. Sign in and start the link again.',
};

const de: Record<keyof typeof en, string> = {
  'federation.continue_with': 'Weiter mit {name}',
  'federation.or': 'oder',
  'federation.error_title': 'Die Anmeldung hat nicht geklappt',
  'federation.cancelled': 'Die Anmeldung bei {name} wurde abgebrochen.',
  'federation.provider_error': '{name} konnte Sie nicht anmelden. Gehen Sie zurück zur Anwendung und versuchen Sie es erneut.',
  'federation.invalid_response':
    'Die Antwort von {name} ließ sich nicht prüfen und wurde abgelehnt. Gehen Sie zurück zur Anwendung und versuchen Sie es erneut.',
  'federation.unreachable': '{name} ist gerade nicht erreichbar. Versuchen Sie es in ein paar Minuten erneut.',
  'federation.misconfigured': 'Die Anmeldung mit {name} ist nicht richtig eingerichtet. Sagen Sie es dem Administrator dieser Anwendung.',
  'federation.state_invalid':
    'Diese Anmeldung ist nicht gültig: Sie wurde schon verwendet, ist abgelaufen oder wurde anderswo begonnen. Gehen Sie zurück zur Anwendung und beginnen Sie neu.',
  'federation.wrong_browser':
    'Diese Anmeldung wurde in einem anderen Browser begonnen. Gehen Sie zurück zur Anwendung und beginnen Sie in diesem Browser neu.',
  'federation.connection_unknown': 'Diese Anwendung bietet die verlangte Anmeldung nicht an.',
  'federation.email_required':
    '{name} hat uns Ihre E-Mail-Adresse nicht mitgeteilt, die ein Konto hier braucht. Bitten Sie den Administrator, {name} die Adresse teilen zu lassen.',
  'federation.account_disabled': 'Dieses Konto ist deaktiviert.',
  'federation.account_conflict': 'Ein Konto mit Ihrer E-Mail-Adresse gibt es schon. Melden Sie sich damit an.',
  'federation.link_title': 'Sie haben schon ein Konto',
  'federation.link_intro':
    'Ein Konto mit der E-Mail-Adresse {email} gibt es schon. Beweisen Sie mit seinem Passwort, dass es Ihres ist, dann wird {name} als Anmeldeweg hinzugefügt.',
  'federation.link_submit': 'Verknüpfen und anmelden',
  'federation.link_wrong': 'Dieses Passwort ist nicht richtig.',
  'federation.directory_title': 'Mit {name} anmelden',
  'federation.directory_username': 'Benutzername',
  'federation.directory_wrong': 'Falscher Benutzername oder falsches Passwort.',
  'federation.back_to_account': 'Zurück zu Ihren verknüpften Konten',
  'federation.identity_taken':
    'Dieses Konto bei {name} ist hier schon mit einem anderen Benutzer verknüpft und wurde daher nicht mit Ihrem verknüpft.',
  'federation.link_session_changed':
    'Sie sind nicht mehr mit dem Konto angemeldet, das diese Verknüpfung begonnen hat, oder es braucht erneut Ihren zweiten Faktor. Melden Sie sich an und beginnen Sie die Verknüpfung neu.',
};

export const FEDERATION_MESSAGES = { en, de };
