// One Eta instance renders pages (with the layout) and bare fragments (for htmx responses and the SSE relay),
// so a partial has exactly one definition whichever path delivers it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import { ACTION_WORDS } from './domain/containers/lifecycle-actions.ts';
import { formatBytes, formatDuration, formatSeconds } from './lib/format.ts';

export const VIEWS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../views');

// Eta's include() merges the caller's `it` into the partial's data: pass every key a partial reads (undefined
// included), or a value from the page leaks into the fragment.
export interface Views {
  /** Renders `views/<name>.eta`; pages wrap themselves in the layout with `layout('layout')`. */
  render(name: string, data: Record<string, unknown>): string;
}

export function createViews(options: { cache: boolean; /** the hashed URL of a built asset (src/http/static-assets.ts) */ asset: (name: string) => string }): Views {
  const eta = new Eta({ views: VIEWS_DIR, cache: options.cache, autoEscape: true, autoTrim: [false, 'nl'] });
  return {
    // Small formatting helpers and the actions' words, which every template may use.
    render: (name, data) => eta.render(name, { formatDuration, formatBytes, formatSeconds, actionWords: ACTION_WORDS, asset: options.asset, ...data }),
  };
}
