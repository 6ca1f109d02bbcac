/**
 * Unit specs live beside the code in libs/; end-to-end specs (real RGW + Redis) in test/.
 * Nest 12 ships ES modules only, and Jest on Node 20 cannot require() them, so those packages are compiled to
 * CommonJS on the way in (cached after the first run).
 * `@nestjs-tus/s3` is mapped to the library's source, so the specs test the code as it is, without a build; the
 * demo's own build resolves the package (node_modules/@nestjs-tus/s3 -> libs/tus-s3, its built dist), and
 * test/consumer installs the packed tarball into an app outside the repo.
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
  },
  testMatch: ['<rootDir>/libs/**/*.spec.ts', '<rootDir>/test/**/*.e2e-spec.ts'],
  testTimeout: 120000,
};
