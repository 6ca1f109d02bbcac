import type { IncomingMessage } from 'node:http';
import { CanActivate, ExecutionContext, Injectable, UnauthorizedException } from '@nestjs/common';
import { SECRET } from './consumer.config';

/** The app's own authentication, installed as APP_GUARD: it must protect the tus routes too. */
@Injectable()
export class BearerGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<IncomingMessage>();
    if (request.headers.authorization !== `Bearer ${SECRET}`) {
      throw new UnauthorizedException('consumer guard: bearer token required');
    }
    return true;
  }
}
