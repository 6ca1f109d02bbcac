import type { ServerResponse } from 'node:http';
import { All, Controller, Param, Req, Res, Type } from '@nestjs/common';
import { TusRequest } from './request';
import { TusRouter } from './tus-router';

/**
 * The tus endpoint at `path`. Routes are fixed when the module is defined, so the controller class is made per
 * path (and decorated with the app's route enhancers there). Every method goes through one route per URL: the
 * router picks the handler.
 */
export function createTusController(path: string): Type<unknown> {
  @Controller(path)
  class TusController {
    constructor(private readonly router: TusRouter) {}

    @All()
    collection(@Req() req: TusRequest, @Res() res: ServerResponse): Promise<void> {
      return this.router.handle(req, res, undefined);
    }

    /** An upload; its id may span segments (`tenant-a/2026/11/<uuid>`, chosen by a hook). */
    @All('*id')
    upload(@Req() req: TusRequest, @Res() res: ServerResponse, @Param('id') id: string | string[]): Promise<void> {
      return this.router.handle(req, res, Array.isArray(id) ? id.join('/') : id);
    }
  }
  return TusController;
}
