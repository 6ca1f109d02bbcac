/**
 * ts-jest, plus fixes for ES-module-only dependencies compiled to CommonJS for Jest: `import.meta.url` has no
 * CommonJS form, so it becomes the file URL of the module itself (which is what it means); `import.meta.resolve(x)`,
 * `.dirname` and `.filename` become `require.resolve(x)`, `__dirname` and `__filename`; and a module that makes its own `require` with `createRequire(import.meta.url)`
 * (e.g. @nestjs/terminus) uses CommonJS's instead, since redeclaring `require` in the CommonJS wrapper is a syntax error.
 */
const { TsJestTransformer } = require('ts-jest');

class Transformer extends TsJestTransformer {
  process(source, path, options) {
    return super.process(rewrite(source, path), path, options);
  }
  processAsync(source, path, options) {
    return super.processAsync(rewrite(source, path), path, options);
  }
  getCacheKey(source, path, options) {
    return super.getCacheKey(rewrite(source, path), path, options);
  }
}

function rewrite(source, path) {
  if (!path.includes('/node_modules/') || !source.includes('import.meta')) return source;
  return source
    .replace(/import\.meta\.resolve\(/g, 'require.resolve(')
    .replace(/import\.meta\.dirname\b/g, '__dirname')
    .replace(/import\.meta\.filename\b/g, '__filename')
    .replace(/^(const|let|var) require = createRequire\(import\.meta\.url\);?$/m, '')
    .replace(/import\.meta\.url/g, "require('node:url').pathToFileURL(__filename).href");
}

module.exports = {
  createTransformer: (config) => new Transformer(config),
};
