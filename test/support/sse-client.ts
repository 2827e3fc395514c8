// A real EventSource-protocol reader for tests and the benchmark: parses `id:`, `event:`, `data:`, `retry:` and
// comment lines from a streamed HTTP response (WHATWG §9.2.6 rules: CR, LF or CRLF end a line).
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import zlib from 'node:zlib';
import { Inflate, Z_SYNC_FLUSH } from 'pako';

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseConnection {
  status: number;
  headers: http.IncomingHttpHeaders;
  events: SseEvent[];
  comments: number;
  retry: number | undefined;
  /** Resolves when the server ends the response (or the connection drops). */
  ended: Promise<void>;
  /** Resolves once an event matching `predicate` has arrived. */
  waitFor(predicate: (e: SseEvent, all: SseEvent[]) => boolean, timeoutMs?: number): Promise<SseEvent>;
  close(): void;
  /** Stops reading the response (TCP back-pressure reaches the server) until resume(). */
  pause(): void;
  resume(): void;
  /** Called for every event as it is parsed (set before data flows). */
  onEvent?: (e: SseEvent) => void;
  bodyText: string;
}

export function connectSse(url: string, options: { cookie?: string; lastEventId?: string; headers?: Record<string, string>; agent?: http.Agent } = {}): Promise<SseConnection> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      url,
      {
        agent: options.agent,
        headers: {
          Accept: 'text/event-stream',
          ...(options.cookie ? { Cookie: options.cookie } : {}),
          ...(options.lastEventId !== undefined ? { 'Last-Event-ID': options.lastEventId } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let buffer = '';
        let data: string[] = [];
        let event = '';
        let id: string | undefined;
        let lastId: string | undefined;
        const waiters: Array<{ predicate: (e: SseEvent, all: SseEvent[]) => boolean; resolve: (e: SseEvent) => void }> = [];
        let endResolve!: () => void;
        const conn: SseConnection = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          events: [],
          comments: 0,
          retry: undefined,
          bodyText: '',
          ended: new Promise((r) => (endResolve = r)),
          waitFor(predicate, timeoutMs = 10_000) {
            const found = conn.events.find((e) => predicate(e, conn.events));
            if (found) return Promise.resolve(found);
            return new Promise((resolveWait, rejectWait) => {
              const timer = setTimeout(() => rejectWait(new Error(`SSE wait timed out after ${timeoutMs} ms (${conn.events.length} events)`)), timeoutMs);
              waiters.push({ predicate, resolve: (e) => (clearTimeout(timer), resolveWait(e)) });
            });
          },
          close() {
            req.destroy();
          },
          pause() {
            res.pause();
          },
          resume() {
            res.resume();
          },
        };
        const dispatch = () => {
          if (id !== undefined) lastId = id;
          if (data.length === 0) {
            event = '';
            return; // an event with an empty data buffer is not dispatched
          }
          const e: SseEvent = { id: lastId, event: event || 'message', data: data.join('\n') };
          data = [];
          event = '';
          conn.events.push(e);
          conn.onEvent?.(e);
          for (let i = waiters.length - 1; i >= 0; i--) {
            if (waiters[i]!.predicate(e, conn.events)) waiters.splice(i, 1)[0]!.resolve(e);
          }
        };
        const line = (l: string) => {
          if (l === '') return dispatch();
          if (l.startsWith(':')) return void conn.comments++;
          const colon = l.indexOf(':');
          const field = colon === -1 ? l : l.slice(0, colon);
          let value = colon === -1 ? '' : l.slice(colon + 1);
          if (value.startsWith(' ')) value = value.slice(1);
          if (field === 'data') data.push(value);
          else if (field === 'event') event = value;
          else if (field === 'id') id = value;
          else if (field === 'retry' && /^\d+$/.test(value)) conn.retry = Number(value);
        };
        const text = (chunk: string) => {
          if (res.statusCode !== 200) {
            conn.bodyText += chunk;
            return;
          }
          buffer += chunk;
          let start = 0;
          if (!buffer.includes('\r')) {
            // The usual case, LF only (a bench client parses a hundred thousand events a second: no regex for it).
            for (let lf = buffer.indexOf('\n'); lf !== -1; lf = buffer.indexOf('\n', start)) {
              line(buffer.slice(start, lf));
              start = lf + 1;
            }
          } else {
            let m: RegExpExecArray | null;
            const re = /\r\n|\r|\n/g;
            while ((m = re.exec(buffer))) {
              // A lone CR at the very end may be the first half of CRLF: wait for more.
              if (m[0] === '\r' && m.index === buffer.length - 1) break;
              line(buffer.slice(start, m.index));
              start = m.index + m[0].length;
            }
          }
          buffer = start === buffer.length ? '' : buffer.slice(start);
        };
        // A stream the client asked to be compressed (headers: Accept-Encoding) is read through its decoder. gzip is
        // inflated in this thread as each chunk arrives (pako, zlib's algorithm in JavaScript; it checks the CRC at the
        // end): Node's zlib streams hand every chunk to the thread pool and back, which a bench holding hundreds of
        // compressed viewers turns into seconds of queueing that are the client's, not the server's.
        const encoding = res.headers['content-encoding'];
        const decoder = new StringDecoder('utf8');
        if (encoding === 'gzip') {
          // Small output chunks: a flushing push allocates a fresh output buffer each time (64 KiB by default).
          const inflator = new Inflate({ chunkSize: 4096 });
          inflator.onData = (bytes: Uint8Array) => text(decoder.write(bytes));
          res.on('data', (chunk: Buffer) => {
            if (!inflator.push(chunk, Z_SYNC_FLUSH) || inflator.err) {
              res.destroy();
              endResolve();
            }
          });
        } else {
          const body = encoding === 'br' ? res.pipe(zlib.createBrotliDecompress()) : res;
          if (body !== res) body.on('error', () => endResolve());
          body.on('data', (chunk: Buffer) => text(decoder.write(chunk)));
        }
        res.on('end', () => endResolve());
        res.on('close', () => endResolve());
        res.on('error', () => endResolve());
        resolve(conn);
      },
    );
    req.on('error', reject);
  });
}
