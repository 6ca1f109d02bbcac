/**
 * An app instance as a child process (see startChildInstance): the same test app as startTestApp, configured by the
 * JSON module options in TUS_INSTANCE_OPTIONS, printing `READY <origin>` once it listens. Run through ts-node, so
 * `@nestjs-tus/s3` is pointed at the library's source here, as Jest's moduleNameMapper does.
 */
import Module from 'node:module';
import { join } from 'node:path';
import type { TestAppOptions } from './test-app.js';

const moduleApi = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
const resolve = moduleApi._resolveFilename;
moduleApi._resolveFilename = (request, ...rest) =>
  resolve(request === '@nestjs-tus/s3' ? join(__dirname, '../../libs/tus-s3/src') : request, ...rest);

async function main(): Promise<void> {
  // Required only now, after the hook above (an import would be hoisted before it).
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startTestApp } = require('./test-app') as typeof import('./test-app.js');
  const app = await startTestApp({
    options: JSON.parse(process.env.TUS_INSTANCE_OPTIONS ?? '{}') as TestAppOptions['options'],
  });
  console.log(`READY ${app.origin}`);
}

void main();
