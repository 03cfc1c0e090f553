import type { Server } from 'node:http';

export interface RouteEntry {
  /** Upper case, e.g. POST. */
  method: string;
  /** The path as the router declares it, e.g. /entities/:kind/:namespace/:name/releases. */
  path: string;
}

interface Layer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: Layer[] };
  regexp?: RegExp;
}

/**
 * Every route that a request under `mountPath` can reach in a running
 * backend, read from its Express routers: the HTTP surface of a plugin as it
 * is, so a test of all endpoints covers new ones without being told.
 */
export function listRoutes(server: Server, mountPath: string): RouteEntry[] {
  const app = server.listeners('request')[0] as unknown as {
    _router?: { stack: Layer[] };
  };
  if (!app?._router) throw new Error('The server is not an Express app');
  const found = new Map<string, RouteEntry>();
  const walk = (stack: Layer[], mounted: boolean) => {
    for (const layer of stack) {
      if (layer.route) {
        if (!mounted) continue;
        for (const method of Object.keys(layer.route.methods)) {
          if (method === '_all') continue;
          const entry = {
            method: method.toUpperCase(),
            path: layer.route.path,
          };
          found.set(`${entry.method} ${entry.path}`, entry);
        }
      } else if (Array.isArray(layer.handle?.stack)) {
        // A mounted router: under the mount path once its prefix matches it.
        const matches =
          mounted ||
          ((layer.regexp?.test(mountPath) ?? false) &&
            !layer.regexp?.test('/'));
        walk(layer.handle!.stack!, mounted || matches);
      }
    }
  };
  walk(app._router.stack, false);
  return [...found.values()].sort((a, b) =>
    `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`),
  );
}
