// Lists the app's routes by walking Express 5's router stack, so a test covers every POST route without a
// hand-kept list going stale.
import type { Express } from 'express';

interface Layer {
  route?: { path: string; methods: Record<string, boolean>; stack: Layer[] };
  handle?: { stack?: Layer[]; rule?: string };
}

/** `rule`: the access rule the route declares first (src/http/middleware/auth.ts `allow`), or undefined. */
export function routesOf(app: Express): Array<{ method: string; path: string; rule?: string }> {
  const found: Array<{ method: string; path: string; rule?: string }> = [];
  const walk = (stack: Layer[]) => {
    for (const layer of stack) {
      if (layer.route) {
        const rule = layer.route.stack[0]?.handle?.rule;
        for (const method of Object.keys(layer.route.methods)) found.push({ method: method.toUpperCase(), path: layer.route.path, rule });
      } else if (layer.handle?.stack) walk(layer.handle.stack);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack);
  return found;
}

/** A concrete URL for a route pattern: every :param becomes `value`. */
export const fillPath = (path: string, value: string) => path.replace(/:[A-Za-z_]+/g, value);
