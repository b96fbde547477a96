/**
 * `npm pack` proves the published package works (issue 17.4): the SDK is packed as npm
 * publishes it (prepack builds it afresh, here in a copy of the package), the tarball is installed into an empty project
 * outside the repository (its one dependency, jose, from the npm cache or registry), and a
 * program there imports `@gatehouse/sdk` and `@gatehouse/sdk/fetch` by name and verifies
 * tokens issued by a real, listening Gatehouse; TypeScript resolves the package's types
 * through its `exports` map.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestGatehouse } from '../../helpers/gatehouse.js';
import { startListeningGatehouse } from '../../helpers/oidc.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const API = 'https://invoices.pack.test';

describe('@gatehouse/sdk packed with npm pack and installed into an empty project', () => {
  let dir: string;
  let project: string;
  let tarball: string;
  let gh: TestGatehouse & { issuer: string };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'gatehouse-sdk-pack-'));
    // Packed from a copy of the package (beside the root tsconfig it extends and the repository's
    // node_modules), so that prepack's fresh build never touches the dist/ that other tests import.
    const copy = join(dir, 'repo');
    cpSync(join(ROOT, 'packages/sdk'), join(copy, 'packages/sdk'), {
      recursive: true,
      filter: (source) => !/[/\\](dist|node_modules)$/.test(source),
    });
    cpSync(join(ROOT, 'tsconfig.json'), join(copy, 'tsconfig.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: join(copy, 'packages/sdk'), maxBuffer: 16 * 1024 * 1024 });
    const packed = readdirSync(dir).filter((name) => name.endsWith('.tgz'));
    assert.equal(packed.length, 1, `one tarball: ${packed.join(', ')}`);
    tarball = join(dir, packed[0]!);
    project = join(dir, 'app');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'sdk-pack-check', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tarball], {
      cwd: project,
      maxBuffer: 16 * 1024 * 1024,
    });
    gh = await startListeningGatehouse();
  });

  after(async () => {
    await gh?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the tarball holds the built ESM, its types, README, CHANGELOG and LICENSE, and no sources or build leftovers', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball]);
    const files = stdout
      .split('\n')
      .filter(Boolean)
      .map((path) => path.replace(/^package\//, ''));
    for (const file of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) assert.ok(files.includes(file), file);
    for (const entry of ['index', 'express', 'express-request', 'fastify', 'fetch', 'dpop', 'revocation']) {
      assert.ok(files.includes(`dist/${entry}.js`), `dist/${entry}.js`);
      assert.ok(files.includes(`dist/${entry}.d.ts`), `dist/${entry}.d.ts`);
    }
    assert.deepEqual(
      files.filter(
        (file) =>
          file.startsWith('src/') ||
          file.endsWith('.map') ||
          file.includes('tsbuildinfo') ||
          (file.endsWith('.ts') && !file.endsWith('.d.ts')),
      ),
      [],
    );
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/@gatehouse/sdk/package.json'), 'utf8'));
    assert.equal(manifest.type, 'module');
    assert.deepEqual(Object.keys(manifest.dependencies), ['jose']);
    for (const subpath of ['.', './express', './fastify', './fetch']) assert.ok(manifest.exports[subpath].types, subpath);
  });

  it('verifies a token of a real Gatehouse from the installed copy: by name, DPoP checks included, with the fetch adapter', async () => {
    const admin = await gh.adminToken();
    const api = await gh.created('/api/v1/apis', admin, {
      identifier: API,
      name: 'Invoices',
      permissions: [{ value: 'read:invoices', description: 'Read invoices' }],
      permissions_in_token: true,
    });
    const m2m = await gh.created('/api/v1/applications', admin, { name: 'Pack check', type: 'm2m' });
    await gh.created(`/api/v1/applications/${m2m.id}/grants`, admin, { api_id: api.id, permissions: ['read:invoices'] });
    const tokenResponse = await fetch(`${gh.issuer}/oauth/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${m2m.client_id}:${m2m.client_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', audience: API }),
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    assert.equal(tokenResponse.status, 200);

    writeFileSync(
      join(project, 'check.mjs'),
      `import { createVerifier, InvalidTokenError } from '@gatehouse/sdk';
import { requireAuth } from '@gatehouse/sdk/fetch';
const [issuer, audience, token, adminToken] = process.argv.slice(2);
const verifier = createVerifier({ issuer, audience });
const auth = await verifier.verify(token);
const wrongAudience = await verifier.verify(adminToken).then(() => 'accepted', (e) => e instanceof InvalidTokenError ? e.reason : String(e));
const protect = requireAuth(verifier);
const handler = protect(async (_request, auth) => Response.json({ sub: auth.sub }), { permissions: ['read:invoices'] });
const ok = await handler(new Request('https://api.test/invoices', { headers: { authorization: 'Bearer ' + token } }));
const dpop = await handler(new Request('https://api.test/invoices', { headers: { authorization: 'DPoP ' + token } }));
console.log(JSON.stringify({
  sub: auth.sub, clientId: auth.clientId, permissions: auth.permissions, tokenType: auth.tokenType, wrongAudience,
  fetchStatus: ok.status, fetchBody: await ok.json(), dpopStatus: dpop.status, dpopChallenge: dpop.headers.get('www-authenticate'),
}));
`,
    );
    const { stdout } = await run('node', ['check.mjs', gh.issuer, API, token, admin], { cwd: project });
    const result = JSON.parse(stdout);
    assert.deepEqual(result, {
      sub: m2m.client_id,
      clientId: m2m.client_id,
      permissions: ['read:invoices'],
      tokenType: 'Bearer',
      wrongAudience: 'wrong_audience',
      fetchStatus: 200,
      fetchBody: { sub: m2m.client_id },
      dpopStatus: 401,
      dpopChallenge: result.dpopChallenge,
    });
    assert.match(result.dpopChallenge, /^DPoP error="invalid_token", error_description="The access token is not bound to a DPoP key/);
  });

  it('TypeScript resolves the installed package’s types through its exports map (nodenext)', async () => {
    writeFileSync(
      join(project, 'check.ts'),
      `import { createVerifier, type AuthInfo, type VerifierOptions } from '@gatehouse/sdk';
import { requireAuth } from '@gatehouse/sdk/fetch';
const options: VerifierOptions = { issuer: 'https://id.test', audience: 'https://api.test', dpop: { required: true }, revocation: { clientId: 'a', clientSecret: 'b' } };
const verifier = createVerifier(options);
export const handler = requireAuth(verifier)(async (_request: Request, auth: AuthInfo) => Response.json({ sub: auth.sub, jkt: auth.jkt ?? null }));
// @ts-expect-error: tokenType is 'Bearer' | 'DPoP'
export const wrong: (auth: AuthInfo) => 'mTLS' = (auth) => auth.tokenType;
`,
    );
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          noEmit: true,
          strict: true,
          module: 'nodenext',
          moduleResolution: 'nodenext',
          target: 'es2022',
          lib: ['es2022', 'dom'],
          types: [],
        },
        files: ['check.ts'],
      }),
    );
    await run('node', [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: project }).catch(
      (error: { stdout: string }) => {
        assert.fail(`tsc: ${error.stdout}`);
      },
    );
  });
});
