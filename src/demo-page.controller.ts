import { createReadStream, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Controller, Get, Header, NotFoundException, Param, StreamableFile } from '@nestjs/common';
import { Public } from './demo-auth';
import { DEFAULT_DEMO_TOKEN, demoConfigFromEnv } from './demo.config';

/** The browser build of Uppy (the `uppy` package, a runtime dependency): served from here, no CDN. */
const UPPY_FILES: Record<string, string> = {
  'uppy.min.mjs': 'text/javascript; charset=utf-8',
  'uppy.min.mjs.map': 'application/json; charset=utf-8',
  'uppy.min.css': 'text/css; charset=utf-8',
};

/**
 * Allows only this origin, so the page cannot load or send anything elsewhere, even by mistake. Inline styles are
 * Uppy's (it sets style attributes); blob: and data: images are its thumbnails and icons.
 */
const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The upload page, its script and the Uppy files it uses. All public: the token guards uploads and /events. */
@Controller()
@Public()
export class DemoPageController {
  private readonly page: string;
  /** Resolved at start-up: a missing `uppy` package stops the app at once rather than breaking the page later. */
  private readonly uppyDir = dirname(require.resolve('uppy/dist/uppy.min.css'));

  constructor() {
    const { tusPath, token } = demoConfigFromEnv();
    // The documented default token is no secret, so the page fills it in; a token of your own is never sent out.
    const prefill = token === DEFAULT_DEMO_TOKEN ? token : '';
    this.page = readFileSync(join(__dirname, 'public', 'index.html'), 'utf8')
      .replace('{{TUS_PATH}}', escapeAttribute(tusPath))
      .replace('{{TOKEN_PREFILL}}', escapeAttribute(prefill));
  }

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CSP)
  @Header('Cache-Control', 'no-cache')
  index(): string {
    return this.page;
  }

  @Get('demo.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  script(): StreamableFile {
    return new StreamableFile(createReadStream(join(__dirname, 'public', 'demo.js')));
  }

  @Get('uppy/:file')
  @Header('Cache-Control', 'public, max-age=3600')
  uppy(@Param('file') file: string): StreamableFile {
    const type = Object.hasOwn(UPPY_FILES, file) ? UPPY_FILES[file] : undefined;
    if (type === undefined) throw new NotFoundException();
    return new StreamableFile(createReadStream(join(this.uppyDir, file)), { type });
  }
}

function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
