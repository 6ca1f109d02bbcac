import type { Server } from 'node:http';
import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { TUS_MOUNT_PATH } from '../tus-s3.constants';
import { shieldFromBodyParsers } from './body-parser-shield';

/** Installs the body-parser shield on the app's HTTP server once it exists (Express; other adapters are left alone). */
@Injectable()
export class BodyParserShield implements OnApplicationBootstrap {
  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Inject(TUS_MOUNT_PATH) private readonly mountPath: string,
  ) {}

  onApplicationBootstrap(): void {
    const adapter = this.adapterHost.httpAdapter;
    if (adapter?.getType?.() !== 'express') return;
    const server = adapter.getHttpServer() as Server | undefined;
    if (server && typeof server.prependListener === 'function') shieldFromBodyParsers(server, this.mountPath);
  }
}
