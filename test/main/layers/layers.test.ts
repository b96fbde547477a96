import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';

/**
 * The layer order of src/ (docs/architecture.md#layers) is enforced by dependency-cruiser
 * with the repository's .dependency-cruiser.cjs, the configuration `npm run lint` uses.
 * A fixture with a deliberately wrong import proves the rules fire; the real src/ must have
 * no violation at all.
 */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const FIXTURE = fileURLToPath(new URL('../../fixtures/layers/', import.meta.url));

async function violationsIn(baseDir: string): Promise<{ rule: string; from: string; to: string }[]> {
  const options = await extractDepcruiseOptions(`${ROOT}.dependency-cruiser.cjs`);
  const tsConfig = extractTSConfig(`${ROOT}tsconfig.build.json`);
  const { output } = await cruise(['src'], { ...options, baseDir }, {}, { tsConfig });
  const result = output as ICruiseResult;
  return result.summary.violations.map((v) => ({ rule: v.rule.name, from: v.from, to: v.to }));
}

describe('the layer rules (.dependency-cruiser.cjs)', () => {
  it('fail on an import against the order and on an import cycle (a fixture with both)', async () => {
    const found = await violationsIn(FIXTURE);
    assert.ok(
      found.some((v) => v.rule === 'layer-order-platform' && v.from === 'src/platform/config.ts' && v.to === 'src/oauth/engine/tokens.ts'),
      JSON.stringify(found),
    );
    assert.ok(
      found.some((v) => v.rule === 'no-circular' && v.from.startsWith('src/directory/users/')),
      JSON.stringify(found),
    );
  });

  it('fail on oidc-provider outside src/oauth/engine and on a route module imported outside the registry (a fixture)', async () => {
    const found = await violationsIn(FIXTURE);
    assert.ok(
      found.some((v) => v.rule === 'engine-only-in-oauth-engine' && v.from === 'src/flows/signup/pages.ts'),
      JSON.stringify(found),
    );
    assert.ok(
      found.some(
        (v) =>
          v.rule === 'routes-only-in-the-registry' && v.from === 'src/flows/signup/pages.ts' && v.to === 'src/directory/tenants/routes.ts',
      ),
      JSON.stringify(found),
    );
  });

  it('find no violation in src/', { timeout: 120_000 }, async () => {
    assert.deepEqual(await violationsIn(ROOT), []);
  });

  it("only src/oauth/engine/ reads the engine's table (oidc_models), beside the schema and its migrations", () => {
    const src = join(ROOT, 'src');
    const readers = (readdirSync(src, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts') && readFileSync(join(src, f), 'utf8').includes('oidc_models'))
      .filter((f) => !f.startsWith('oauth/engine/') && !f.startsWith('platform/db/migrations/') && f !== 'platform/db/schema.ts');
    assert.deepEqual(readers, []);
  });
});
