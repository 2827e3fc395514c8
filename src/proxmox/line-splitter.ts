// Turns a byte stream into the lines a terminal would finally show: chunk boundaries may fall anywhere (even inside
// a multi-byte character), and a `\r` redraw (progress bars) keeps only the text after the last carriage return.
import { StringDecoder } from 'node:string_decoder';

/** A line longer than this (no newline for ~256 KiB) is emitted in pieces rather than held in memory. */
const MAX_LINE_CHARS = 256 * 1024;

export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private partial = '';

  constructor(private readonly onLine: (text: string) => void) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : this.decoder.write(chunk));
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.onLine(finalText(line));
    this.partial = dropRedrawn(this.partial);
    while (this.partial.length > MAX_LINE_CHARS) {
      this.onLine(this.partial.slice(0, MAX_LINE_CHARS));
      this.partial = this.partial.slice(MAX_LINE_CHARS);
    }
  }

  /** Flushes a last line that had no newline (and any bytes of an incomplete character, as U+FFFD). */
  end(): void {
    const rest = this.partial + this.decoder.end();
    this.partial = '';
    if (rest !== '') this.onLine(finalText(rest));
  }
}

/** The text a terminal ends up showing for one line: what follows the last `\r` (a `\r\n` ending is just an end). */
function finalText(line: string): string {
  const body = line.replace(/\r+$/, '');
  return body.slice(body.lastIndexOf('\r') + 1);
}

// While a line is still open, anything before its last `\r` has already been overwritten — except for `\r`s at the
// very end, which may yet turn out to be a `\r\n` line ending.
function dropRedrawn(partial: string): string {
  const last = partial.replace(/\r+$/, '').lastIndexOf('\r');
  return last === -1 ? partial : partial.slice(last + 1);
}
