// GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… API_URL=http://localhost:3002 node examples/spa/main.js   → http://localhost:3003
import { start } from './server.js';

const { url } = await start(
  {
    issuer: process.env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
    clientId: process.env.CLIENT_ID ?? '',
    audience: process.env.API_AUDIENCE ?? 'https://invoices.example.com',
    apiUrl: process.env.API_URL ?? 'http://localhost:3002',
    scope: process.env.SCOPE ?? 'openid profile email offline_access read:invoices',
  },
  Number(process.env.PORT ?? 3003),
);
console.log(`Single-page app on ${url}`);
