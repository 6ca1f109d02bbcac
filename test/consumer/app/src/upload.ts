/** `node dist/upload.js <endpoint> <file>`: uploads the file with tus-js-client as the app's bearer, 2 MiB a PATCH. */
import { readFileSync } from 'node:fs';
import { Upload } from 'tus-js-client';
import { report, SECRET } from './consumer.config';

const [endpoint, file] = process.argv.slice(2);
if (!endpoint || !file) throw new Error('usage: upload.js <endpoint> <file>');

const upload = new Upload(readFileSync(file), {
  endpoint,
  chunkSize: 2 * 1024 * 1024,
  retryDelays: [],
  headers: { Authorization: `Bearer ${SECRET}` },
  metadata: { filename: 'consumer.bin', filetype: 'application/octet-stream' },
  onError: (error: Error) => {
    console.error(error);
    process.exitCode = 1;
  },
  onSuccess: () => report('uploaded', { url: upload.url }),
});
upload.start();
