// Runs the example API: GATEHOUSE_ISSUER=http://localhost:3000 API_AUDIENCE=https://invoices.example.com node examples/api/main.js
import { start } from './app.js';

const { url } = await start(
  {
    issuer: process.env.GATEHOUSE_ISSUER ?? 'http://localhost:3000',
    audience: process.env.API_AUDIENCE ?? 'https://invoices.example.com',
    corsOrigins: process.env.API_CORS_ORIGINS?.split(',').filter(Boolean) ?? ['http://localhost:3003'],
  },
  Number(process.env.PORT ?? 3002),
);
console.log(`Invoices API on ${url} (GET /invoices needs read:invoices)`);
