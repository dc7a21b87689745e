/**
 * Import-graph rules (`npm run lint:imports`, also run by `npm test` through
 * test/unit/import-rules.test.ts). The CLI sits on top of the library; shared is the
 * bottom layer; the SDK stands on shared alone; the cluster never reaches into the SDK
 * or the proxy; and no two files import each other, type imports included.
 */
module.exports = {
  forbidden: [
    {
      name: 'library-imports-cli',
      comment: 'Library code never imports bin/ or bench/: the CLI and the benchmarks sit on top.',
      severity: 'error',
      from: { path: '^(shared|sdk|proxy|cluster)/' },
      to: { path: '^(bin|bench)/' },
    },
    {
      name: 'shared-imports-only-shared',
      comment: 'shared/ is the bottom layer: it imports only shared/ (and packages).',
      severity: 'error',
      from: { path: '^shared/' },
      to: { path: '^(sdk|proxy|cluster|bin|bench|test|examples)/' },
    },
    {
      name: 'sdk-imports-only-shared',
      comment: 'The SDK ships alone: it imports only shared/ (and packages).',
      severity: 'error',
      from: { path: '^sdk/' },
      to: { path: '^(proxy|cluster|bin|bench|test|examples)/' },
    },
    {
      name: 'cluster-imports-no-sdk-or-proxy',
      comment: 'The cluster serves the SDK and the proxy; it never imports them.',
      severity: 'error',
      from: { path: '^cluster/' },
      to: { path: '^(sdk|proxy)/' },
    },
    {
      name: 'no-cycles',
      comment: 'Contracts live in leaf files, so no two files import each other (type imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|dist)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js', '.mjs', '.cjs', '.d.ts'] },
  },
};
