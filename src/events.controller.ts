import { Controller, Headers, MessageEvent, Sse } from '@nestjs/common';
import { Observable } from 'rxjs';
import { TokenInQuery } from './demo-auth';
import { FinishedUploads } from './finished-uploads';

/** A comment line this often keeps proxies from closing an idle stream and tells the server when a client left. */
const KEEP_ALIVE_MS = 25_000;

/**
 * GET /events: Server-Sent Events for the upload page. First `ready` ({ instance }: which instance serves this
 * stream), then `finished` (a `FinishedUpload`, its id as the event id) for the recent and every new finished
 * upload of any instance. Needs the token, as a header or, since EventSource cannot send one, as `?token=`.
 */
@Controller()
export class EventsController {
  constructor(private readonly uploads: FinishedUploads) {}

  @Sse('events')
  @TokenInQuery()
  events(@Headers('last-event-id') lastEventId?: string): Observable<MessageEvent> {
    return new Observable<MessageEvent>((out) => {
      out.next({ type: 'ready', data: { instance: this.uploads.instance } });
      const keepAlive = setInterval(() => out.next({ comment: 'keep-alive' }), KEEP_ALIVE_MS);
      const finished = this.uploads.stream(lastEventId || undefined).subscribe({
        next: (upload) => out.next({ type: 'finished', id: upload.id, data: upload }),
        complete: () => out.complete(),
        error: (error: unknown) => out.error(error),
      });
      return () => {
        clearInterval(keepAlive);
        finished.unsubscribe();
      };
    });
  }
}
