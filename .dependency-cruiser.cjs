/**
 * The layer order of src/ (docs/architecture.md#layers), checked by `npm run lint`:
 *
 *   main → ops → flows → oauth → authn → directory → platform
 *
 * A module imports only from its own layer or a layer to its right. There are no import
 * cycles (type-only imports count too), only oauth/engine knows oidc-provider, nothing
 * imports main/ (the composition root), and a route module is imported only by the route
 * registry (src/main/routes.ts).
 */
const LAYERS = ['platform', 'directory', 'authn', 'oauth', 'flows', 'ops', 'main'];

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-order-${layer}`,
  comment: `${layer}/ may import only from ${LAYERS.slice(0, i + 1).join(', ')} (docs/architecture.md#layers)`,
  severity: 'error',
  from: { path: `^src/${layer}/` },
  to: { path: `^src/(${LAYERS.slice(i + 1).join('|')})/` },
}));

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import cycle ties modules that the layers keep apart (docs/architecture.md#layers)',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'engine-only-in-oauth-engine',
      comment: 'Only src/oauth/engine/ imports oidc-provider (docs/architecture.md#the-oauth-engine)',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/oauth/engine/' },
      to: { path: '(^|/)node_modules/oidc-provider/' },
    },
    {
      name: 'routes-only-in-the-registry',
      comment: 'Route modules are registered by src/main/routes.ts and imported by nothing else',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/main/' },
      to: { path: '^src/.+/(routes|api)\\.ts$' },
    },
    {
      name: 'src-outside-src',
      comment: 'src/ never imports tests, benchmarks or examples',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench|examples)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.build.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
