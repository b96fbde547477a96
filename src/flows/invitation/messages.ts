/** Invitations: a new user sets a password; an existing user joins another tenant. */
const en = {
  'invitation.title': 'You are invited to {brand}',
  'invitation.set_password_intro': 'Choose a password for your account {email}.',
  'invitation.activate': 'Set the password and sign in',
  'invitation.join_intro': 'You are invited to join {tenant} with the account {email}.',
  'invitation.join_sign_in': 'Sign in as {email} first, then open the link in the email again.',
  'invitation.sign_in': 'Sign in',
  'invitation.wrong_account':
    'You are signed in with another account. This invitation is for {email}: sign out, sign in as {email}, then open the link again.',
  'invitation.accept': 'Accept the invitation',
  'invitation.joined_title': 'Welcome to {tenant}',
  'invitation.joined': 'You are now a member of {tenant}.',
  'invitation.to_account': 'Go to your account',
  'invitation.email_subject': '{brand}: you are invited',
  'invitation.email_body': 'An administrator of {tenant} created an account for you ({email}).',
  'invitation.email_join_body': 'An administrator of {tenant} invites you to join with your account ({email}).',
  'invitation.email_expiry': 'The link works once, for 7 days.',
  'invitation.email_action': 'Accept the invitation',
} as const;

const de: Record<keyof typeof en, string> = {
  'invitation.title': 'Sie sind zu {brand} eingeladen',
  'invitation.set_password_intro': 'Wählen Sie ein Passwort für Ihr Konto {email}.',
  'invitation.activate': 'Passwort festlegen und anmelden',
  'invitation.join_intro': 'Sie sind eingeladen, {tenant} mit dem Konto {email} beizutreten.',
  'invitation.join_sign_in': 'Melden Sie sich zuerst als {email} an und öffnen Sie dann den Link in der E-Mail erneut.',
  'invitation.sign_in': 'Anmelden',
  'invitation.wrong_account':
    'Sie sind mit einem anderen Konto angemeldet. Diese Einladung gilt für {email}: Melden Sie sich ab, als {email} an und öffnen Sie den Link erneut.',
  'invitation.accept': 'Einladung annehmen',
  'invitation.joined_title': 'Willkommen bei {tenant}',
  'invitation.joined': 'Sie sind jetzt Mitglied von {tenant}.',
  'invitation.to_account': 'Zu Ihrem Konto',
  'invitation.email_subject': '{brand}: Sie sind eingeladen',
  'invitation.email_body': 'Ein Administrator von {tenant} hat ein Konto für Sie angelegt ({email}).',
  'invitation.email_join_body': 'Ein Administrator von {tenant} lädt Sie ein, mit Ihrem Konto ({email}) beizutreten.',
  'invitation.email_expiry': 'Der Link gilt einmal, 7 Tage lang.',
  'invitation.email_action': 'Einladung annehmen',
};

export const INVITATION = { en, de };
