// Jest runs the TypeScript sources through ts-jest (CommonJS). One Postgres serves the run (the
// DATABASE_URL server, or an embedded one started in globalSetup); each test file makes its own
// database on it.
const ESM_ONLY = [
  'uuid', 'execa', '@sindresorhus/merge-streams', 'figures', 'get-stream', 'human-signals', 'is-plain-obj',
  'is-stream', 'npm-run-path', 'pretty-ms', 'signal-exit', 'strip-final-newline', 'which-command', 'yoctocolors',
  'unicorn-magic', 'path-key', 'is-unicode-supported', 'parse-ms', '@sec-ant/readable-stream', 'is-safe-filename',
];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: false }] },
  // Some dependencies ship only as ES modules (thrift's uuid; execa and its helpers): ts-jest turns
  // them into CommonJS for jest's module loader. The service itself loads them natively on Node 24.
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  // unicorn-magic exports only under the "import" condition, which jest's CommonJS resolver skips.
  moduleNameMapper: { '^unicorn-magic$': '<rootDir>/node_modules/unicorn-magic/node.js' },
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 60_000,
  verbose: true,
};
