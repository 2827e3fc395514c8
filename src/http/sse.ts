// Server-Sent Events framing for Node responses — Express's or the stream gateway's (reference/htmx-sse.md §0, §1.4): `retry:` first, `id:` on
// every message, every line of HTML on its own `data:` line, a heartbeat, no buffering anywhere.
// The heartbeat is an `event: heartbeat` rather than a `:` comment because EventSource never shows comments to the
// page, and the page's watchdog must hear it to tell a quiet build from a dead connection (issue 22). It repeats
// the id of the last message, so a client that takes its cursor from every event keeps the right one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { streamEncoding } from './compression.ts';
import { chainFor, type ChainSegment } from './gzip-chain.ts';

export interface SseWriter {
  /** Writes one event; false once more than the pending-bytes cap is queued for this client (it is then cut). */
  send(id: number, event: string, data: string): boolean;
  /**
   * Writes a message every viewer of the stream's group gets alike (a live progress batch, a usage poll): with gzip,
   * compressed against the messages before it, in one context shared by the group (src/http/gzip-chain.ts).
   */
  sendShared(id: number, event: string, data: string): boolean;
  /**
   * Resolves once other requests have had a turn of the event loop and this client has taken what was written
   * (false if the stream closed, or the client took nothing for `stallMs` and was cut). A long replay awaits it
   * between batches, so it neither holds the process nor piles up more than one batch for a slow reader.
   */
  writable(): Promise<boolean>;
  /**
   * Whether this client still holds a good part of what was written (over a quarter of the pending-bytes cap): a
   * live feed then lets it take that and catches it up from Postgres, rather than pile on until it is cut.
   */
  behind(): boolean;
  /** The bytes of one event as send() writes them; sendEncoded writes such bytes (kept by a cache). */
  encode(id: number, event: string, data: string): Buffer;
  sendEncoded(id: number, frame: Buffer): boolean;
  end(): void;
  readonly closed: boolean;
}

// Every viewer of a container receives the same message (the feed renders it once per process): frame and encode it
// once too, and write the same bytes to each socket. Keyed by the HTML string itself — V8 caches a string's hash,
// so looking up the very same string object is cheap. A few recent, live-sized messages are enough (big replay
// batches go to one viewer each and are not kept).
const recentFrames = new Map<string, { id: number; event: string; frame: Buffer }>();
const RECENT_FRAMES = 16;
const CACHEABLE_CHARS = 128 * 1024;

/**
 * One SSE message as it goes on the wire, uncompressed: CR, LF and CRLF all end an SSE line; log text had its CRs
 * collapsed upstream, but never trust that here.
 */
export function encodeEvent(id: number, event: string, data: string): Buffer {
  return Buffer.from(`id: ${id}\nevent: ${event}\ndata: ${data.replace(/\r\n|\r|\n/g, '\ndata: ')}\n\n`);
}

function frameFor(id: number, event: string, data: string): Buffer {
  const hit = recentFrames.get(data);
  if (hit && hit.id === id && hit.event === event) return hit.frame;
  const frame = encodeEvent(id, event, data);
  if (data.length <= CACHEABLE_CHARS) {
    recentFrames.set(data, { id, event, frame });
    if (recentFrames.size > RECENT_FRAMES) recentFrames.delete(recentFrames.keys().next().value!);
  }
  return frame;
}

/**
 * gzip without a compressor per viewer (issue 18): a gzip body is a header, raw deflate blocks and a trailer (CRC-32
 * and length of what was compressed). A block sequence that ends with a sync flush is byte-aligned, and one
 * compressed with no history refers to nothing before it — so such segments can follow each other in any viewer's
 * stream. The chain's segments end with a partial flush instead, up to 7 bits short of a byte boundary: the next
 * segment of the same chain goes on from there, anything else is preceded by ALIGNMENT. A viewer holds only the
 * running CRC and length, and the bits its last chain segment left. The live messages of a container (sendShared) come from
 * one compression context shared by its viewers (src/http/gzip-chain.ts), so they compress against the messages
 * before them; any other message is compressed once, alone, for every viewer that gets it (kept beside its frame);
 * the small per-viewer bits (retry, heartbeats) go as stored blocks. docs/performance.md has the measurements.
 */
const GZIP_HEADER = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
/** An empty final block with fixed codes: ends the deflate stream before the trailer. */
const DEFLATE_END = Buffer.from([3, 0]);
/**
 * What brings a stream left `bits` short of a byte boundary by a chain's partial flush (src/http/gzip-chain.ts) back
 * to one: those bits (zeros), an empty stored block's header (3 zero bits), zeros to the boundary, LEN 0, NLEN 0xffff.
 * Indexed by the dangling bits, 0–7.
 */
const ALIGNMENT = Array.from({ length: 8 }, (_, bits) =>
  bits === 0 ? Buffer.alloc(0) : Buffer.concat([Buffer.alloc(Math.ceil((bits + 3) / 8)), Buffer.from([0, 0, 0xff, 0xff])]),
);
const segments = new WeakMap<Buffer, Buffer>();

function deflatedSegment(frame: Buffer): Buffer {
  let segment = segments.get(frame);
  if (!segment) {
    segment = zlib.deflateRawSync(frame, { level: 6, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    segments.set(frame, segment);
  }
  return segment;
}

/** Bytes as they are, in stored blocks (header 0, then LEN and its complement, little-endian). */
function storedSegment(bytes: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 0xffff) {
    const chunk = bytes.subarray(at, at + 0xffff);
    const head = Buffer.alloc(5);
    head.writeUInt16LE(chunk.length, 1);
    head.writeUInt16LE(~chunk.length & 0xffff, 3);
    parts.push(head, chunk);
  }
  return Buffer.concat(parts);
}

/**
 * Writes queued this turn, per stream, and the streams that have some. Relay side of adaptive batching (issue 18):
 * a viewer gets one socket write — and its compressor one flush — per event-loop turn, however many messages the
 * turn produced. The flush runs in the same turn's check phase (setImmediate): nothing waits for a timer.
 */
const dirty = new Set<EventStream>();
let flushScheduled = false;
function flushDirty(): void {
  flushScheduled = false;
  for (const stream of dirty) {
    dirty.delete(stream);
    stream.flushQueued();
  }
}

/**
 * One heartbeat timer per interval for every stream in the process, not one per viewer: an idle viewer holds no
 * timer and no closure of its own.
 */
const heartbeats = new Map<number, { timer: NodeJS.Timeout; streams: Set<EventStream> }>();
function joinHeartbeat(stream: EventStream, everyMs: number): void {
  let group = heartbeats.get(everyMs);
  if (!group) {
    const streams = new Set<EventStream>();
    group = { timer: setInterval(() => { for (const s of streams) s.heartbeat(); }, everyMs).unref(), streams };
    heartbeats.set(everyMs, group);
  }
  group.streams.add(stream);
}
function leaveHeartbeat(stream: EventStream, everyMs: number): void {
  const group = heartbeats.get(everyMs);
  if (!group?.streams.delete(stream) || group.streams.size > 0) return;
  clearInterval(group.timer);
  heartbeats.delete(everyMs);
}

export function openEventStream(
  req: IncomingMessage,
  res: ServerResponse,
  options: StreamOptions,
): SseWriter {
  const encoding = streamEncoding(req);
  // The body ends when the connection does, not with chunked transfer-coding (Node then says `Connection: close`
  // itself): a stream is never followed by another request on its connection, and a chunk's framing is a length
  // line and two CRLFs around every message — 6–8 bytes, a third of what a compressed log line costs — and three
  // buffers per socket write instead of one (the web process's CPU per message per viewer: −7 %, docs/performance.md).
  res.useChunkedEncodingByDefault = false;
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
    Vary: 'Accept-Encoding',
    ...(encoding === 'identity' ? {} : { 'Content-Encoding': encoding }),
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  return new EventStream(res, encoding, options);
}

interface StreamOptions {
  maxPendingBytes: number;
  heartbeatMs?: number;
  retryMs?: number;
  stallMs?: number;
  /** the client's cursor */
  lastEventId?: number;
  /** The viewers that get the same messages through sendShared (one container's live stream of one kind). */
  group?: string;
}

/** A shared message's frame and its segment in the group's compression chain. */
interface ChainPiece {
  frame: Buffer;
  segment: ChainSegment;
}

/**
 * One viewer's stream. A class rather than closures: an idle viewer is this object, its response, its socket and
 * (when compressed) its compressor — about what the connection itself costs.
 */
class EventStream implements SseWriter {
  closed = false;
  private lastId: number;
  /** Frames written this turn, sent together at the end of it (see flushDirty). */
  private queued: (string | Buffer | ChainPiece)[] = [];
  private queuedBytes = 0;
  /** brotli only (a client that offers no gzip): one compressor for the stream. */
  private readonly compressor: zlib.BrotliCompress | undefined;
  /** gzip: CRC-32 and length (mod 2^32) of what the stream has carried. */
  private crc = 0;
  private inflatedLength = 0;
  /** gzip: the seq of the last segment of the group's chain this stream wrote, if it wrote nothing else since (else -1). */
  private chainAt = -1;
  /** gzip: bits the last chain segment written left unwritten (see ALIGNMENT). */
  private danglingBits = 0;
  private readonly heartbeatMs: number;
  /** When this stream last wrote (performance.now(): monotonic): a stream that is talking needs no heartbeat. */
  private wroteAt = -Infinity;

  constructor(
    private readonly res: ServerResponse,
    private readonly encoding: 'br' | 'gzip' | 'identity',
    private readonly options: StreamOptions,
  ) {
    this.lastId = options.lastEventId ?? 0;
    this.heartbeatMs = options.heartbeatMs ?? 15_000;
    if (encoding === 'gzip') res.write(GZIP_HEADER);
    if (encoding === 'br') {
      this.compressor = createBrotliStream();
      this.compressor.pipe(res);
      // A compressor fails only when its stream is already gone; end the response rather than throw.
      this.compressor.on('error', () => res.destroy());
    }
    res.on('close', () => {
      this.release();
      this.compressor?.destroy();
    });
    joinHeartbeat(this, this.heartbeatMs);
    this.queue(`retry: ${options.retryMs ?? 3000}\n\n`);
  }

  send(id: number, event: string, data: string): boolean {
    return this.sendEncoded(id, frameFor(id, event, data));
  }

  encode(id: number, event: string, data: string): Buffer {
    return encodeEvent(id, event, data);
  }

  sendShared(id: number, event: string, data: string): boolean {
    const group = this.options.group;
    if (this.encoding !== 'gzip' || group === undefined) return this.send(id, event, data);
    if (this.closed) return false;
    const frame = frameFor(id, event, data);
    const segment = chainFor(group).next({ id, event, data }, frame, this.chainAt);
    if (!segment) return this.sendEncoded(id, frame);
    this.chainAt = segment.seq;
    return this.accept(id, { frame, segment });
  }

  sendEncoded(id: number, frame: Buffer): boolean {
    if (this.closed) return false;
    return this.accept(id, frame);
  }

  private accept(id: number, chunk: Buffer | ChainPiece): boolean {
    if (this.pending() > this.options.maxPendingBytes) {
      // A client still holding this much is cut; it reconnects with its cursor and resumes from Postgres. (Measured
      // before the new message: one message larger than the cap — a burst of output — is sent, and a live feed
      // stops sending to a client well before the cap: see ProgressFeed.deliver.)
      this.release();
      this.compressor?.destroy();
      this.res.destroy();
      return false;
    }
    this.lastId = id;
    this.queue(chunk);
    return true;
  }

  behind(): boolean {
    return this.pending() > this.options.maxPendingBytes / 4;
  }

  /**
   * The shared timer's tick: a heartbeat, unless the stream wrote in the last half interval — then its messages are
   * what the page hears (at most 1.5 intervals apart either way; the page gives up after 2). A heartbeat is the
   * viewer's own message, so it takes a compressed viewer off its group's chain, and the next two live messages
   * cost what they cost compressed alone (src/http/gzip-chain.ts): a page of a running CT, updated every 5 s, paid
   * that at every third update.
   */
  heartbeat(): void {
    if (!this.closed && performance.now() - this.wroteAt >= this.heartbeatMs / 2) this.queue(`id: ${this.lastId}\nevent: heartbeat\ndata:\n\n`);
  }

  async writable(): Promise<boolean> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.closed) return false;
    const res = this.res;
    if (!res.writableNeedDrain) return true;
    const drained = await new Promise<boolean>((resolve) => {
      const settle = (ok: boolean) => {
        clearTimeout(timer);
        res.off('drain', onDrain);
        res.off('close', onClose);
        resolve(ok);
      };
      const onDrain = () => settle(true);
      const onClose = () => settle(false);
      const timer = setTimeout(() => settle(false), this.options.stallMs ?? 30_000);
      res.on('drain', onDrain);
      res.on('close', onClose);
    });
    if (!drained && !this.closed) {
      // Took nothing for stallMs: free the slot; the browser reconnects with its cursor when it can.
      this.release();
      res.destroy();
    }
    return drained && !this.closed;
  }

  end(): void {
    if (this.closed) return;
    this.flushQueued();
    this.release();
    if (this.encoding === 'gzip') {
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(this.crc >>> 0, 0);
      trailer.writeUInt32LE(this.inflatedLength >>> 0, 4);
      this.res.end(Buffer.concat([ALIGNMENT[this.danglingBits]!, DEFLATE_END, trailer]));
    } else {
      (this.compressor ?? this.res).end();
    }
  }

  /** Everything queued this turn leaves in one write (and a brotli stream is flushed once after it). */
  flushQueued(): void {
    const chunks = this.queued;
    if (chunks.length === 0 || this.res.destroyed) return;
    this.wroteAt = performance.now();
    this.queued = [];
    this.queuedBytes = 0;
    if (this.encoding === 'gzip') {
      const parts: Buffer[] = [];
      for (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.isBuffer(chunk) ? chunk : chunk.frame;
        this.crc = zlib.crc32(bytes, this.crc);
        this.inflatedLength = (this.inflatedLength + bytes.length) % 2 ** 32;
        // A group's live messages come from its chain — the next segment goes on from the last one's very bit;
        // anything else starts on a byte boundary: other frames compressed once, alone, for all viewers, this
        // viewer's own small chunks stored, and a chain segment after a reset.
        const segment = typeof chunk === 'string' || Buffer.isBuffer(chunk) ? undefined : chunk.segment;
        if ((!segment || segment.after === -1) && this.danglingBits > 0) parts.push(ALIGNMENT[this.danglingBits]!);
        parts.push(segment ? segment.bytes : typeof chunk === 'string' ? storedSegment(bytes) : deflatedSegment(bytes));
        this.danglingBits = segment ? segment.danglingBits : 0;
      }
      this.res.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
      return;
    }
    const out = this.compressor ?? this.res;
    const plain = chunks.map((c) => (typeof c === 'string' ? Buffer.from(c) : Buffer.isBuffer(c) ? c : c.frame));
    out.write(plain.length === 1 ? plain[0]! : Buffer.concat(plain));
    // A sync flush keeps the dictionary, so later messages still compress against earlier ones.
    this.compressor?.flush(zlib.constants.BROTLI_OPERATION_FLUSH);
  }

  private queue(chunk: string | Buffer | ChainPiece): void {
    // Anything of this stream's own puts its decoder's history out of step with the group's chain.
    if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) this.chainAt = -1;
    this.queued.push(chunk);
    this.queuedBytes += typeof chunk === 'string' || Buffer.isBuffer(chunk) ? chunk.length : chunk.frame.length;
    dirty.add(this);
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flushDirty);
    }
  }

  /** Bytes held for this client: queued this turn, in the compressor, and in the response. */
  private pending(): number {
    const c = this.compressor;
    return this.queuedBytes + this.res.writableLength + (c ? c.writableLength + c.readableLength : 0);
  }

  /** Stops everything shared that still knows this stream (idempotent). */
  private release(): void {
    this.closed = true;
    leaveHeartbeat(this, this.heartbeatMs);
    dirty.delete(this);
    this.queued = [];
    this.queuedBytes = 0;
  }
}

/**
 * brotli, for a client that offers it but not gzip: one compressor per stream (it keeps context between messages;
 * quality 5 — the cheaper qualities lose their context at every flush).
 */
function createBrotliStream(): zlib.BrotliCompress {
  return zlib.createBrotliCompress({
    chunkSize: 4096,
    params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 5, [zlib.constants.BROTLI_PARAM_LGWIN]: 16, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT },
  });
}
