// One compression context for all the viewers of one container's live stream (issue 21). A message compressed
// alone cannot refer to the messages before it, and a log line's markup, SSE framing and text are mostly what the
// previous line sent: alone, a line costs about 200 bytes on the wire; against the stream so far, about 40. A
// compressor per viewer would keep that context but costs 80–105 KB per viewer and one compression per viewer per
// message (docs/performance.md). Instead the viewers of a container share one: every viewer that is at the chain's
// head — it wrote every segment of the chain so far, and nothing else since — can write the chain's next segment,
// since its decoder then holds exactly the history the compressor refers to. A viewer that wrote anything of its own
// (a heartbeat, a replay batch, its final message) has left the chain; it writes the next live message compressed
// alone, and asks for a reset: the chain's next segment then starts with a full flush (no reference to anything
// before it), which any viewer can write, and so joins.
// Every segment ends with a partial flush rather than a sync flush: the block ends and an empty block with fixed codes
// (10 bits) follows, so a decoder has every byte of the message, but the stream is left up to 7 bits short of a byte
// boundary instead of paying an empty stored block (4–5 bytes) per message — a tenth of a live stream's bytes. The
// bits still owed are zeros (the tail of that empty block's end code); the segment says how many
// (`danglingBits`), and a viewer about to write anything that starts on a byte boundary — its own message, a reset
// segment, the stream's end — first writes them with an empty stored block (ALIGNMENT in src/http/sse.ts).
import { Deflate, Z_FULL_FLUSH, Z_PARTIAL_FLUSH, Z_SYNC_FLUSH } from 'pako';

export interface ChainSegment {
  /** Unique in the process (so a position in a dropped chain never matches a new one). */
  readonly seq: number;
  /** The segment a viewer must have written just before this one; -1 after a reset (anyone may write it). */
  readonly after: number;
  readonly bytes: Buffer;
  /** Bits of the stream after `bytes` not yet written (0–7, all zero): see ALIGNMENT in src/http/sse.ts. */
  readonly danglingBits: number;
}

/** A chain nobody sent to for this long is dropped, with its compressor (about 260 KB). */
const IDLE_MS = 30_000;
/** Segments kept for viewers that have not written them yet (one message reaches every viewer in the same turn). */
const RECENT = 8;
const NOTHING = new Uint8Array(0);
let lastSeq = 0;

class GzipChain {
  /** The seq of the chain's last segment (-1: none yet). */
  head = -1;
  lastUsed = Date.now();
  // Level 9: 2 % fewer bytes than 6 for the same time here (one compression per message for all the viewers).
  private readonly deflate = new Deflate({ raw: true, level: 9, windowBits: 15, memLevel: 8 });
  /** By the message's HTML (every viewer renders the same string, not always the same object), with its id and event. */
  private readonly recent = new Map<string, { id: number; event: string; segment: ChainSegment }>();
  private out: Uint8Array[] = [];
  private wantReset = false;

  constructor() {
    this.deflate.onData = (chunk) => this.out.push(chunk);
  }

  /**
   * The segment a viewer whose last chain segment was `at` writes for `frame`; undefined when it cannot follow
   * the chain there (it writes the frame compressed alone, and the chain's next segment lets it join).
   */
  next(message: { id: number; event: string; data: string }, frame: Buffer, at: number): ChainSegment | undefined {
    this.lastUsed = Date.now();
    const hit = this.recent.get(message.data);
    const known = hit && hit.id === message.id && hit.event === message.event ? hit.segment : undefined;
    if (known && (known.after === -1 || known.after === at)) return known;
    if (known && at !== this.head) {
      this.wantReset = true;
      return undefined;
    }
    // A message the chain has not compressed yet — or the same bytes again, for a viewer at the head.
    return this.append(message, frame, this.wantReset || at !== this.head);
  }

  private append(message: { id: number; event: string; data: string }, frame: Buffer, reset: boolean): ChainSegment {
    const fresh = this.head === -1;
    if (reset && !fresh) {
      // Forget the history; what the flush writes to reach a byte boundary each viewer writes for itself (its own
      // stream may not be where the chain is), so the reset segment starts on one.
      this.deflate.push(NOTHING, Z_FULL_FLUSH);
      this.out = [];
    }
    this.deflate.push(frame, flushMode());
    const segment: ChainSegment = { seq: ++lastSeq, after: reset || fresh ? -1 : this.head, bytes: Buffer.concat(this.out), danglingBits: danglingBitsOf(this.deflate) };
    this.out = [];
    this.wantReset = false;
    this.head = segment.seq;
    this.recent.delete(message.data);
    this.recent.set(message.data, { id: message.id, event: message.event, segment });
    if (this.recent.size > RECENT) this.recent.delete(this.recent.keys().next().value!);
    return segment;
  }
}

/**
 * The bits a compressor holds that are not in its output yet: pako's bit buffer (zlib's deflate_state.bi_valid), a
 * private field (pako is pinned to the version this was checked against). Should a pako ever keep it elsewhere, the
 * chains fall back to sync flushes, which leave nothing behind (flushMode below).
 */
function bitBufferOf(deflate: Deflate): number | undefined {
  const bits = (deflate as unknown as { strm?: { state?: { bi_valid?: unknown } } }).strm?.state?.bi_valid;
  return typeof bits === 'number' && Number.isInteger(bits) && bits >= 0 && bits <= 7 ? bits : undefined;
}

/**
 * Partial flushes when this pako's bit buffer can be read, else sync flushes. Checked once, on a throwaway compressor,
 * when the first chain compresses (not when the module loads: a process that never streams never pays for it).
 */
type FlushMode = typeof Z_PARTIAL_FLUSH | typeof Z_SYNC_FLUSH;
let flush: FlushMode | undefined;
function flushMode(): FlushMode {
  if (flush === undefined) {
    const probe = new Deflate({ raw: true, level: 9 });
    probe.push('probe: a partial flush leaves a few bits behind', Z_PARTIAL_FLUSH);
    flush = bitBufferOf(probe) === undefined ? Z_SYNC_FLUSH : Z_PARTIAL_FLUSH;
  }
  return flush;
}

function danglingBitsOf(deflate: Deflate): number {
  if (flushMode() !== Z_PARTIAL_FLUSH) return 0;
  const bits = bitBufferOf(deflate);
  if (bits === undefined) throw new Error("pako's bit buffer went missing after the probe found it");
  return bits;
}

const chains = new Map<string, GzipChain>();
let sweeper: NodeJS.Timeout | undefined;

/** The chain of a group of viewers (one container's live stream), made on first use, dropped when idle. */
export function chainFor(group: string): GzipChain {
  let chain = chains.get(group);
  if (!chain) {
    chain = new GzipChain();
    chains.set(group, chain);
    sweeper ??= setInterval(dropIdleChains, IDLE_MS).unref();
  }
  return chain;
}

function dropIdleChains(): void {
  const now = Date.now();
  for (const [group, chain] of chains) if (now - chain.lastUsed >= IDLE_MS) chains.delete(group);
  if (chains.size === 0 && sweeper) {
    clearInterval(sweeper);
    sweeper = undefined;
  }
}
