import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { shellJoin, shellQuote } from './shell-quote.ts';

// What a real POSIX shell makes of the quoted words: printf prints each resulting argument followed by a NUL
// (after a sentinel, because printf with no arguments at all still prints its format once).
function throughShell(args: string[]): string[] {
  const result = spawnSync('/bin/sh', ['-c', `printf '%s\\0' sentinel ${shellJoin(args)}`], { env: { PATH: '/usr/bin:/bin', HOME: '/nonexistent' } });
  expect(result.status).toBe(0);
  const words = result.stdout.toString('utf8').slice(0, -1).split('\0');
  expect(words[0]).toBe('sentinel');
  return words.slice(1);
}

const HOSTILE = [
  '', ' ', "'", "''", '"', "it's", 'a b', '$(touch /tmp/pwned)', '`id`', '${HOME}', '$HOME', 'line1\nline2', '\n', '\r\n',
  '-n', '-e', '--', '-', '*', '?', '[a-z]', '~', '~root', '#comment', ';', '&&', '|', '>', '<', '\\', '\\n', '!', '!!',
  'ü', 'æøå 日本語 🙂', '\t', '\u00a0', '\x1b[31mred\x1b[0m', "a'b\"c$d`e\\f", 'x=1', '%s', '{a,b}',
];

describe('shellQuote', () => {
  it('reads back as exactly the same arguments through a real /bin/sh, hostile strings included', () => {
    expect(throughShell(HOSTILE)).toEqual(HOSTILE);
  });

  it('passes each hostile string as one word even on its own', () => {
    for (const arg of HOSTILE) expect(throughShell(['before', arg, 'after'])).toEqual(['before', arg, 'after']);
  });

  it('leaves plain words alone and single-quotes everything else', () => {
    expect(shellQuote('pct')).toBe('pct');
    expect(shellQuote('/etc/nginx/sites-available/x.conf')).toBe('/etc/nginx/sites-available/x.conf');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('a b')).toBe("'a b'");
  });

  it('refuses a NUL byte, which no argv can carry', () => {
    expect(() => shellQuote('a\0b')).toThrow(TypeError);
  });

  it('round-trips any well-formed Unicode argv through /bin/sh (property)', () => {
    const arg = fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s);
    fc.assert(fc.property(fc.array(arg, { maxLength: 6 }), (args) => {
      expect(throughShell(args)).toEqual(args);
    }), { numRuns: 150 });
  });
});
