// Serves the hashed, precompressed assets of the build (src/build/hash-assets.ts) from memory: the manifest and the
// files are read once at start. A hashed name's content never changes, so it is cached forever by every browser
// (immutable: a repeat visit fetches nothing); a name the manifest does not list falls through (404). The ETag is
// weak because one name has several encodings.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Request, RequestHandler } from 'express';
import { MANIFEST, type AssetManifest } from '../build/hash-assets.ts';
import { preferredEncoding } from './compression.ts';

export const ASSET_PREFIX = '/static/assets/';
const IMMUTABLE = 'public, max-age=31536000, immutable';
const TYPES: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml' };

interface LoadedAsset {
  type: string;
  etag: string;
  bodies: Partial<Record<'identity' | 'br' | 'gzip', Buffer>>;
}

export interface StaticAssets {
  /** The URL of a logical asset (`css/app.css`) under its hashed name; throws for an asset the build did not make. */
  url(name: string): string;
  middleware: RequestHandler;
}

export function loadStaticAssets(publicDir: string): StaticAssets {
  const dir = path.join(publicDir, 'assets');
  let manifest: AssetManifest;
  try {
    manifest = JSON.parse(readFileSync(path.join(dir, MANIFEST), 'utf8')) as AssetManifest;
  } catch (err) {
    throw new Error(`The browser assets are not built (${(err as Error).message}). Run \`npm run build\` first.`, { cause: err });
  }
  const files = new Map<string, LoadedAsset>();
  for (const { file, encodings } of Object.values(manifest)) {
    const bodies: LoadedAsset['bodies'] = { identity: readFileSync(path.join(dir, file)) };
    for (const encoding of encodings) bodies[encoding] = readFileSync(path.join(dir, file + (encoding === 'br' ? '.br' : '.gz')));
    files.set(file, { type: TYPES[path.extname(file)] ?? 'application/octet-stream', etag: `W/"${file}"`, bodies });
  }

  const middleware: RequestHandler = (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !req.path.startsWith(ASSET_PREFIX)) return next();
    const asset = files.get(req.path.slice(ASSET_PREFIX.length));
    if (!asset) return next();
    res.set({ 'Content-Type': asset.type, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': IMMUTABLE, ETag: asset.etag, Vary: 'Accept-Encoding' });
    if (req.fresh) return void res.status(304).end();
    const encoding = chooseEncoding(req, asset);
    if (encoding !== 'identity') res.set('Content-Encoding', encoding);
    const body = asset.bodies[encoding]!;
    res.set('Content-Length', String(body.length));
    if (req.method === 'HEAD') return void res.end();
    res.end(body);
  };

  return {
    url(name) {
      const entry = manifest[name];
      if (!entry) throw new Error(`No built asset named ${name}: add it to ASSETS in src/build/hash-assets.ts and rebuild.`);
      return ASSET_PREFIX + entry.file;
    },
    middleware,
  };
}

function chooseEncoding(req: Request, asset: LoadedAsset): 'identity' | 'br' | 'gzip' {
  const preferred = preferredEncoding(req);
  return preferred !== 'identity' && asset.bodies[preferred] ? preferred : 'identity';
}
