// Pages, messages and comments that send a reader to documentation must send them somewhere that exists: every
// `docs/…` path named under views/ or src/ is a file of this repository, and every README section named as
// `README…section “…”` (or "…") is a heading of README.md.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');

function filesUnder(dir: string): string[] {
  return readdirSync(path.join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|eta|js|css|json|sh)$/.test(e.name))
    .map((e) => path.relative(root, path.join(e.parentPath, e.name)));
}

const sources = [...filesUnder('views'), ...filesUnder('src')].map((file) => ({ file, text: readFileSync(path.join(root, file), 'utf8') }));

describe('documentation named by views and messages', () => {
  it('every docs/… path named in views/ or src/ exists', () => {
    const named = sources.flatMap(({ file, text }) =>
      [...text.matchAll(/(?<![\w./-])docs\/[\w.-]+(?:\/[\w.-]+)*(?<=\w)/g)].map((m) => ({ file, ref: m[0] })),
    );
    const missing = named.filter(({ ref }) => !existsSync(path.join(root, ref)));
    expect(missing, missing.map((m) => `${m.file} names ${m.ref}, which does not exist`).join('\n')).toEqual([]);
  });

  it('every README section named in views/ or src/ is a heading of README.md', () => {
    const headings = readFileSync(path.join(root, 'README.md'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('#'))
      .map((l) => l.replace(/^#+\s*/, '').replace(/`/g, '').trim());
    const named = sources.flatMap(({ file, text }) =>
      [...text.replace(/\n\/\/\s*/g, ' ').matchAll(/README(?:\.md)?,? section [“"]([^”"]+)[”"]/g)].map((m) => ({ file, section: m[1]! })),
    );
    expect(named.length).toBeGreaterThan(0);
    const missing = named.filter(({ section }) => !headings.some((h) => h.startsWith(section)));
    expect(missing, missing.map((m) => `${m.file} names README section “${m.section}”, which is not a heading`).join('\n')).toEqual([]);
  });
});
