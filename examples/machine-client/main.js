// GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… API_AUDIENCE=https://invoices.example.com \
//   [API_URL=http://localhost:3002/invoices] node examples/machine-client/main.js
import { callApi, claimsOf, getToken } from './client.js';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`Set ${name}`);
  return value;
};

const tokens = await getToken({
  issuer: env('GATEHOUSE_ISSUER', 'http://localhost:3000'),
  clientId: env('CLIENT_ID'),
  clientSecret: env('CLIENT_SECRET'),
  audience: env('API_AUDIENCE', 'https://invoices.example.com'),
});
console.log(`access token (expires in ${tokens.expires_in} s), claims:`);
console.log(claimsOf(tokens.access_token));
if (process.env.API_URL) {
  const { status, body } = await callApi(process.env.API_URL, tokens.access_token);
  console.log(`GET ${process.env.API_URL} → ${status}`, JSON.stringify(body, null, 2));
}
