// GATEHOUSE_ISSUER=http://localhost:3000 CLIENT_ID=… CLIENT_SECRET=… API_AUDIENCE=https://invoices.example.com \
//   API_URL=http://localhost:3002 node examples/express-web-app/main.js    → http://localhost:3001
import { start } from './app.js';

const env = (name, fallback) => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`Set ${name}`);
  return value;
};
const port = Number(process.env.PORT ?? 3001);
await start(
  {
    issuer: env('GATEHOUSE_ISSUER', 'http://localhost:3000'),
    clientId: env('CLIENT_ID'),
    clientSecret: env('CLIENT_SECRET'),
    baseUrl: env('BASE_URL', `http://localhost:${port}`),
    audience: process.env.API_AUDIENCE ?? 'https://invoices.example.com',
    apiUrl: process.env.API_URL ?? 'http://localhost:3002',
  },
  port,
);
console.log(`Web app on http://localhost:${port}`);
