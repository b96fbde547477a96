// The page's logic: sign in, show the claims, call the API, refresh, sign out.
// Tokens live in memory only (a page reload means signing in again, which Gatehouse's
// session makes a quick round trip); the PKCE verifier waits in sessionStorage.
import { claimsOf, createLoginRequest, handleCallback, logoutUrl, refresh } from './auth.js';

const config = await (await fetch('/config.json')).json();
const $ = (id) => document.getElementById(id);
const show = (id, value) => {
  $(id).textContent = typeof value === 'string' ? value : JSON.stringify(value, null, 2);
};
let tokens;

async function signIn() {
  const { url, pending } = await createLoginRequest(config);
  sessionStorage.setItem('pkce', JSON.stringify(pending));
  location.assign(url);
}

async function callApi() {
  const response = await fetch(`${config.apiUrl}/invoices`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  show('api', { status: response.status, body: await response.json() });
}

function render() {
  $('signed-out').hidden = Boolean(tokens);
  $('signed-in').hidden = !tokens;
  if (!tokens) return;
  show('id-token', claimsOf(tokens.id_token));
  show('access-token', tokens.access_token.split('.').length === 3 ? claimsOf(tokens.access_token) : '(opaque token)');
}

$('login').onclick = signIn;
$('api-call').onclick = () => callApi().catch((e) => show('api', String(e)));
$('refresh').onclick = async () => {
  tokens = await refresh(config, tokens.refresh_token);
  render();
};
$('logout').onclick = () => location.assign(logoutUrl(config, `${location.origin}/`));

// Back from Gatehouse with ?code=…&state=…: exchange the code, then clean the address bar.
if (location.search.includes('state=')) {
  const pending = JSON.parse(sessionStorage.getItem('pkce') ?? 'null');
  sessionStorage.removeItem('pkce');
  try {
    tokens = await handleCallback(config, location.href, pending);
  } catch (error) {
    show('error', String(error));
  }
  history.replaceState(null, '', '/');
}
render();
