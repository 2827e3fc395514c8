import { describe, expect, it } from 'vitest';
import { LineSplitter } from './line-splitter.ts';

function split(chunks: Array<Buffer | string>): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter((text) => lines.push(text));
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('joins lines broken across chunk boundaries and keeps empty lines', () => {
    expect(split(['hel', 'lo\nwor', 'ld\n', '\n', 'last\n'])).toEqual(['hello', 'world', '', 'last']);
  });

  it('flushes a final line that has no newline', () => {
    expect(split(['one\ntwo'])).toEqual(['one', 'two']);
    expect(split(['only'])).toEqual(['only']);
    expect(split([])).toEqual([]);
  });

  it('collapses \\r progress redraws to the final text, also across chunks', () => {
    expect(split(['10%\r50%\r100%\n'])).toEqual(['100%']);
    expect(split(['Progress: 10%\r', 'Progress: 60%\r', 'Progress: 100%\r', '\ndone\n'])).toEqual(['Progress: 100%', 'done']);
    expect(split(['a\rb'])).toEqual(['b']);
  });

  it('treats \\r\\n as a plain line end, even when split between chunks', () => {
    expect(split(['one\r\ntwo\r\n'])).toEqual(['one', 'two']);
    expect(split(['one\r', '\ntwo\r'])).toEqual(['one', 'two']);
  });

  it('keeps ANSI colour escapes verbatim', () => {
    expect(split(['\x1b[1;31mERROR\x1b[0m: bad\n', '\x1b[32mok\x1b[0m\n'])).toEqual(['\x1b[1;31mERROR\x1b[0m: bad', '\x1b[32mok\x1b[0m']);
  });

  it('decodes multi-byte UTF-8 split across chunks', () => {
    const bytes = Buffer.from('grüße 🙂 日本\n', 'utf8');
    const chunks = [...bytes].map((b) => Buffer.from([b]));
    expect(split(chunks)).toEqual(['grüße 🙂 日本']);
    const emoji = Buffer.from('🙂\n');
    expect(split([emoji.subarray(0, 1), emoji.subarray(1, 3), emoji.subarray(3)])).toEqual(['🙂']);
  });

  it('replaces invalid UTF-8 instead of failing, and flushes a truncated character at the end', () => {
    expect(split([Buffer.from([0x61, 0xff, 0x62, 0x0a])])).toEqual(['a\ufffdb']);
    expect(split([Buffer.from([0x61, 0xe2, 0x82])])).toEqual(['a\ufffd']);
  });

  it('does not hold an endless redrawn line in memory', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((text) => lines.push(text));
    for (let i = 0; i < 10_000; i++) splitter.push(`progress ${i}\r`);
    expect((splitter as unknown as { partial: string }).partial.length).toBeLessThan(40);
    splitter.push('\n');
    expect(lines).toEqual(['progress 9999']);
  });

  it('splits a line with no newline at all into bounded pieces', () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((text) => lines.push(text));
    splitter.push('x'.repeat(600 * 1024));
    splitter.end();
    expect(lines.length).toBe(3);
    expect(lines.join('').length).toBe(600 * 1024);
  });
});
