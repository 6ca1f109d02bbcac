import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ArgumentsHost,
  CanActivate,
  Catch,
  ExceptionFilter,
  ExecutionContext,
  Injectable,
  SetMetadata,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { demoConfigFromEnv } from './demo.config';

const PUBLIC = 'demo:public';
const TOKEN_IN_QUERY = 'demo:token-in-query';

/** A route anyone may call: the page and its static assets. */
export const Public = () => SetMetadata(PUBLIC, true);

/**
 * A route that also takes the token as `?token=`: only for /events, since EventSource cannot send headers. Query
 * strings end up in access logs and browser history, so nothing else accepts it.
 */
export const TokenInQuery = () => SetMetadata(TOKEN_IN_QUERY, true);

/** Thrown by the guard; answered by `UnauthorizedFilter` as a short plain-text 401 (Nest's default is JSON). */
export class DemoUnauthorized extends Error {}

/**
 * Registered as APP_GUARD, so every route of the app is closed unless marked `@Public()`: the tus routes (the
 * module's controller, whatever TUS_PATH is) and /events need `Authorization: Bearer <DEMO_TOKEN>`.
 */
@Injectable()
export class DemoAuthGuard implements CanActivate {
  private readonly token = Buffer.from(demoConfigFromEnv().token);

  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC, targets)) return true;
    const req = context.switchToHttp().getRequest<IncomingMessage & { query?: Record<string, unknown> }>();
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')?.[1];
    const fromQuery = this.reflector.getAllAndOverride<boolean>(TOKEN_IN_QUERY, targets) ? req.query?.token : undefined;
    const offered = bearer ?? (typeof fromQuery === 'string' ? fromQuery : undefined);
    if (offered === undefined) throw new DemoUnauthorized('send Authorization: Bearer <token> (see DEMO_TOKEN)');
    if (!this.matches(offered)) throw new DemoUnauthorized('wrong token');
    return true;
  }

  private matches(offered: string): boolean {
    const given = Buffer.from(offered);
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }
}

@Catch(DemoUnauthorized)
export class UnauthorizedFilter implements ExceptionFilter {
  catch(error: DemoUnauthorized, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<ServerResponse>();
    const body = `${error.message}\n`;
    res.writeHead(401, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'WWW-Authenticate': 'Bearer realm="tus demo"',
      'Cache-Control': 'no-store',
    });
    res.end(body);
  }
}
