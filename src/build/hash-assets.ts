// The last build step: every browser asset gets a content-hashed copy in public/assets, precompressed once here
// (brotli at its best quality, gzip at level 9) so no request ever compresses an asset, and a manifest mapping the
// logical name (`css/app.css`) to the hashed file. The web process reads the manifest once at start
// (src/http/static-assets.ts) and serves these names as immutable. Files of an earlier build are removed, so an
// old hashed name is never served with other content.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';

/** The assets the layout references, relative to public/. */
export const ASSETS = ['favicon.svg', 'css/app.css', 'vendor/htmx.min.js', 'vendor/htmx-ext-sse.min.js', 'js/live-progress.js', 'js/log-viewer.js', 'js/app.js', 'vendor/alpine-csp.min.js'];

export interface AssetEntry {
  /** The hashed file name inside public/assets, e.g. `app.3f2a9c1b0d.css`. */
  file: string;
  /** Which precompressed siblings exist (`<file>.br`, `<file>.gz`): only those smaller than the original. */
  encodings: Array<'br' | 'gzip'>;
}
export type AssetManifest = Record<string, AssetEntry>;

export const MANIFEST = 'manifest.json';

export function hashAssets(publicDir: string, assets: string[] = ASSETS): AssetManifest {
  const outDir = path.join(publicDir, 'assets');
  mkdirSync(outDir, { recursive: true });
  const manifest: AssetManifest = {};
  const keep = new Set([MANIFEST]);
  for (const name of assets) {
    const body = readFileSync(path.join(publicDir, name));
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 12);
    const ext = path.extname(name);
    const file = `${path.basename(name, ext)}.${hash}${ext}`;
    writeFileSync(path.join(outDir, file), body);
    keep.add(file);
    const encodings: AssetEntry['encodings'] = [];
    const variants: Array<['br' | 'gzip', string, Buffer]> = [
      ['br', '.br', zlib.brotliCompressSync(body, { params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 11, [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT, [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length } })],
      ['gzip', '.gz', zlib.gzipSync(body, { level: 9 })],
    ];
    for (const [encoding, suffix, packed] of variants) {
      if (packed.length >= body.length) continue;
      writeFileSync(path.join(outDir, file + suffix), packed);
      keep.add(file + suffix);
      encodings.push(encoding);
    }
    manifest[name] = { file, encodings };
  }
  writeFileSync(path.join(outDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const stale of readdirSync(outDir)) if (!keep.has(stale)) rmSync(path.join(outDir, stale));
  return manifest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const publicDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../public');
  const manifest = hashAssets(publicDir);
  console.log(`hashed and precompressed ${Object.keys(manifest).length} assets into public/assets`);
}
