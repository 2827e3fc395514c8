// Copies the browser scripts we serve from node_modules into public/vendor, so nothing is fetched from a CDN.
// The versions are pinned exactly in package.json (htmx-ext-sse 2.2.4 cannot load on htmx 4).
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(path.join(root, 'package.json'));
const target = path.join(root, 'public/vendor');
mkdirSync(target, { recursive: true });

const assets: Array<[pkg: string, file: string, as: string]> = [
  ['htmx.org', 'dist/htmx.min.js', 'htmx.min.js'],
  ['htmx-ext-sse', 'dist/sse.min.js', 'htmx-ext-sse.min.js'],
  ['@alpinejs/csp', 'dist/cdn.min.js', 'alpine-csp.min.js'],
];
for (const [pkg, file, as] of assets) {
  const pkgDir = path.dirname(require.resolve(`${pkg}/package.json`));
  copyFileSync(path.join(pkgDir, file), path.join(target, as));
}
console.log(`vendored ${assets.length} browser scripts into public/vendor`);
