import type { Server } from 'node:http';
import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TUS_MOUNT_PATH } from '../tus-s3.constants';
import { shieldFromBodyParsers } from './body-parser-shield';

/** Node's default `server.requestTimeout`: a whole request must arrive within 5 minutes. */
const NODE_DEFAULT_REQUEST_TIMEOUT_MS = 300_000;

/**
 * What the tus routes need of the app's HTTP server once it exists (Express; other adapters are left alone): the
 * body-parser shield, and no deadline for a whole request. Node ends any request that takes longer than 5 minutes
 * to arrive, which would cut every big PATCH on a slow link; stalled bodies are ended by `idleTimeoutMs` instead.
 */
@Injectable()
export class HttpServerSetup implements OnApplicationBootstrap {
  private readonly logger = new Logger('TusS3');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(TUS_MOUNT_PATH) private readonly mountPath: string,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType?.() !== 'express') return;
    const server = adapter.getHttpServer() as Server | undefined;
    if (!server || typeof server.prependListener !== 'function') return;
    shieldFromBodyParsers(server, this.mountPath);
    if (server.requestTimeout === NODE_DEFAULT_REQUEST_TIMEOUT_MS) {
      server.requestTimeout = 0;
      this.logger.log(
        "server.requestTimeout set to 0 (was Node's default of 5 minutes, which would cut long PATCHes); " +
          'stalled request bodies are ended by the idleTimeoutMs option. Set your own value after app.init() to override.',
      );
    }
  }
}
