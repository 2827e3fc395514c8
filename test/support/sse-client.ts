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
  /**
   * With `record`: the monotonic time (ms) the bytes that completed the event being dispatched arrived, while
   * parseRecorded() runs; undefined otherwise (the event is being parsed as it arrives).
   */
  receivedAt: number | undefined;
  /** With `record`: parses the bytes received so far (each event dispatched with its arrival time), and forgets them. */
  parseRecorded(): void;
  /** With `record`: chunks received and not parsed yet. */
  readonly recordedChunks: number;
  bodyText: string;
}

/**
 * `record`: keep the response's bytes with their arrival times and parse them only when asked (parseRecorded). For
 * the benchmark's latency scenario, where one process reads for a thousand viewers on the machine the server runs
 * on: parsing as they arrive took more CPU than the server it measured, and every viewer's arrival time then
 * included the queue of parsing for the others. A browser parses its one stream in microseconds on its own machine.
 */
export function connectSse(url: string, options: { cookie?: string; lastEventId?: string; headers?: Record<string, string>; agent?: http.Agent; record?: boolean } = {}): Promise<SseConnection> {
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
          receivedAt: undefined,
          get recordedChunks() {
            return recorded.chunks;
          },
          parseRecorded() {
            const { bytes, ends, times } = recorded;
            let start = 0;
            for (let k = 0; k < recorded.chunks; k++) {
              conn.receivedAt = times[k]!;
              read(bytes.subarray(start, ends[k]!));
              start = ends[k]!;
            }
            conn.receivedAt = undefined;
            recorded.chunks = 0;
            recorded.length = 0;
          },
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
        let read: (chunk: Uint8Array) => void;
        if (encoding === 'gzip') {
          // Small output chunks: a flushing push allocates a fresh output buffer each time (64 KiB by default).
          const inflator = new Inflate({ chunkSize: 4096 });
          inflator.onData = (bytes: Uint8Array) => text(decoder.write(bytes as Buffer));
          read = (chunk) => {
            if (!inflator.push(chunk, Z_SYNC_FLUSH) || inflator.err) {
              res.destroy();
              endResolve();
            }
          };
        } else if (encoding === 'br') {
          const body = zlib.createBrotliDecompress();
          body.on('error', () => endResolve());
          body.on('data', (chunk: Buffer) => text(decoder.write(chunk)));
          res.on('end', () => body.end());
          read = (chunk) => body.write(chunk);
        } else {
          read = (chunk) => text(decoder.write(chunk as Buffer));
        }
        // Recorded bytes live in one growing buffer per connection (not a Buffer per chunk: a thousand viewers'
        // million small objects would cost the reading process major collections mid-measurement).
        const recorded = { bytes: Buffer.alloc(0), ends: new Float64Array(0), times: new Float64Array(0), chunks: 0, length: 0 };
        const record = (chunk: Buffer) => {
          const at = Number(process.hrtime.bigint()) / 1e6;
          if (recorded.length + chunk.length > recorded.bytes.length) {
            const bigger = Buffer.allocUnsafe(Math.max(64 * 1024, 2 * (recorded.length + chunk.length)));
            recorded.bytes.copy(bigger, 0, 0, recorded.length);
            recorded.bytes = bigger;
          }
          if (recorded.chunks === recorded.ends.length) {
            const size = Math.max(256, 2 * recorded.chunks);
            const ends = new Float64Array(size);
            const times = new Float64Array(size);
            ends.set(recorded.ends);
            times.set(recorded.times);
            recorded.ends = ends;
            recorded.times = times;
          }
          chunk.copy(recorded.bytes, recorded.length);
          recorded.length += chunk.length;
          recorded.ends[recorded.chunks] = recorded.length;
          recorded.times[recorded.chunks++] = at;
        };
        // brotli decodes on the thread pool, so its events could not be given their bytes' arrival time: never recorded.
        res.on('data', options.record && res.statusCode === 200 && encoding !== 'br' ? record : read);
        res.on('end', () => endResolve());
        res.on('close', () => endResolve());
        res.on('error', () => endResolve());
        resolve(conn);
      },
    );
    req.on('error', reject);
  });
}
