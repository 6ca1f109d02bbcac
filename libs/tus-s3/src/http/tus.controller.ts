import type { IncomingMessage, ServerResponse } from 'node:http';
import { All, Controller, Param, Req, Res, Type } from '@nestjs/common';
import { TusService } from './tus.service';

/**
 * The tus endpoint at `path`. Routes are fixed when the module is defined, so the controller class is made per
 * path. Every method goes through one handler because X-HTTP-Method-Override may turn a POST into a PATCH.
 */
export function createTusController(path: string): Type<unknown> {
  @Controller(path)
  class TusController {
    constructor(private readonly tus: TusService) {}

    @All()
    collection(@Req() req: IncomingMessage, @Res() res: ServerResponse): Promise<void> {
      return this.tus.handle(req, res, undefined);
    }

    @All(':id')
    upload(@Req() req: IncomingMessage, @Res() res: ServerResponse, @Param('id') id: string): Promise<void> {
      return this.tus.handle(req, res, id);
    }

    /** Nothing lives below an upload: such ids are refused like any invalid id, with a tus-shaped 404. */
    @All(':id/*rest')
    below(@Req() req: IncomingMessage, @Res() res: ServerResponse, @Param('id') id: string): Promise<void> {
      return this.tus.handle(req, res, `${id}/`);
    }
  }
  return TusController;
}
