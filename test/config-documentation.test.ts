import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** Variable names assigned in .env.example (commented-out assignments count: `# NODE_ENV=production`). */
async function envExampleVariables(): Promise<Set<string>> {
  const text = await readFile(path.join(ROOT, '.env.example'), 'utf8');
  const names = [...text.matchAll(/^#?\s*([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
  return new Set(names);
}

/** Variable names in the first column of the README's Configuration table (`| `A` / `B` | … |`). */
async function readmeVariables(): Promise<Set<string>> {
  const text = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const section = text.split(/^## Configuration$/m)[1]?.split(/^## /m)[0] ?? '';
  const names = new Set<string>();
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1];
    if (first === undefined) continue;
    for (const m of first.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) names.add(m[1]!);
  }
  return names;
}

describe('configuration documentation', () => {
  it('reads at least the variables every install sets (the schema keys are really parsed)', () => {
    expect(CONFIG_VARIABLES).toEqual(expect.arrayContaining(['DATABASE_URL', 'REDIS_URL', 'PORT']));
  });

  it('.env.example lists every variable src/config.ts reads, and nothing it does not', async () => {
    const listed = await envExampleVariables();
    expect(CONFIG_VARIABLES.filter((v) => !listed.has(v))).toEqual([]);
    expect([...listed].filter((v) => !CONFIG_VARIABLES.includes(v))).toEqual([]);
  });

  it('the README Configuration table lists every variable src/config.ts reads, and nothing it does not', async () => {
    const listed = await readmeVariables();
    expect(CONFIG_VARIABLES.filter((v) => !listed.has(v))).toEqual([]);
    expect([...listed].filter((v) => !CONFIG_VARIABLES.includes(v))).toEqual([]);
  });
});
