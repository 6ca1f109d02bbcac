/**
 * Unit specs live beside the code in libs/; end-to-end specs (real RGW + Redis) in test/.
 * Nest 12 ships ES modules only, and Jest on Node 20 cannot require() them, so those packages are compiled to
 * CommonJS on the way in (cached after the first run).
 */
const esmOnly = ['@nestjs', 'file-type', 'strtok3', 'token-types', 'peek-readable', '@tokenizer', 'uint8array-extras', 'load-esm'];

module.exports = {
  moduleFileExtensions: ['js', 'mjs', 'json', 'ts'],
  rootDir: '.',
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j|mj)s$': ['<rootDir>/tools/jest-transform.js', { tsconfig: '<rootDir>/tsconfig.jest.json' }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  moduleNameMapper: {
    '^@nestjs-tus/s3$': '<rootDir>/libs/tus-s3/src',
    '^@nestjs-tus/s3/(.*)$': '<rootDir>/libs/tus-s3/src/$1',
  },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  testTimeout: 120000,
};
