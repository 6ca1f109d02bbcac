import { ClientRequest, IncomingMessage, request } from 'node:http';

export interface ServerSentEvent {
  type: string;
  id?: string;
  data: string;
}

export interface EventStream {
  status: number;
  headers: IncomingMessage['headers'];
  /** Resolves with the first event (received so far or later) that matches; rejects after `timeoutMs`. */
  next(match: (event: ServerSentEvent) => boolean, timeoutMs?: number): Promise<ServerSentEvent>;
  close(): void;
}

/** Opens a Server-Sent Events stream and parses its events (comments are skipped). */
export function openEventStream(url: string, headers: Record<string, string> = {}): Promise<EventStream> {
  return new Promise((resolve, reject) => {
    const events: ServerSentEvent[] = [];
    const waiters: Array<() => void> = [];
    const req: ClientRequest = request(
      url,
      { headers: { Accept: 'text/event-stream', ...headers }, agent: false },
      (res) => {
        let buffer = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk.replace(/\r\n?/g, '\n');
          let end: number;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const event: ServerSentEvent = { type: 'message', data: '' };
            const data: string[] = [];
            for (const line of block.split('\n')) {
              if (line === '' || line.startsWith(':')) continue;
              const colon = line.indexOf(':');
              const field = colon < 0 ? line : line.slice(0, colon);
              const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
              if (field === 'event') event.type = value;
              else if (field === 'id') event.id = value;
              else if (field === 'data') data.push(value);
            }
            if (data.length === 0) continue;
            event.data = data.join('\n');
            events.push(event);
            waiters.splice(0).forEach((wake) => wake());
          }
        });
        res.on('error', () => undefined);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          next: (match, timeoutMs = 15_000) =>
            new Promise((found, fail) => {
              const timer = setTimeout(
                () => fail(new Error(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`)),
                timeoutMs,
              );
              const look = () => {
                const event = events.find(match);
                if (event) {
                  clearTimeout(timer);
                  found(event);
                } else {
                  waiters.push(look);
                }
              };
              look();
            }),
          close: () => req.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}
