/**
 * ts-jest, plus one fix for ES-module-only dependencies compiled to CommonJS for Jest: `import.meta.url` has no
 * CommonJS form, so it becomes the file URL of the module itself (which is what it means).
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
  if (!path.includes('/node_modules/') || !source.includes('import.meta.url')) return source;
  return source.replace(/import\.meta\.url/g, "require('node:url').pathToFileURL(__filename).href");
}

module.exports = {
  createTransformer: (config) => new Transformer(config),
};
