import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Controller, Get, Header, StreamableFile } from '@nestjs/common';
import { Public } from './demo-auth';
import { demoConfigFromEnv } from './demo.config';

/** The upload page and the browser build of tus-js-client it uses (served locally: no CDN needed). */
@Controller()
@Public()
export class DemoPageController {
  private readonly page = readFileSync(join(__dirname, 'public', 'index.html'), 'utf8').replace(
    '{{TUS_PATH}}',
    demoConfigFromEnv().tusPath,
  );

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  index(): string {
    return this.page;
  }

  @Get('tus.min.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  client(): StreamableFile {
    return new StreamableFile(createReadStream(require.resolve('tus-js-client/dist/tus.min.js')));
  }
}
