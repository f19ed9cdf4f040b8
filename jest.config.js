// Jest runs the TypeScript sources through ts-jest (CommonJS). One Postgres serves the run (the
// DATABASE_URL server, or an embedded one started in globalSetup); each test file makes its own
// database on it.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.[tj]s$': ['ts-jest', { tsconfig: 'tsconfig.jest.json', diagnostics: false }] },
  // thrift's runtime requires uuid, which ships only as an ES module: let ts-jest turn it into CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!uuid/)'],
  globalSetup: '<rootDir>/test/support/globalSetup.ts',
  globalTeardown: '<rootDir>/test/support/globalTeardown.ts',
  testTimeout: 60_000,
  verbose: true,
};
