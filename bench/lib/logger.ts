import type { LoggerService } from '@backstage/backend-plugin-api';

/**
 * A logger for the bench scripts: errors and warnings on stderr, info and
 * debug only when verbose; `onLog` sees every line with its metadata (e.g.
 * to pick up "status cache synced").
 */
export function createBenchLogger(
  verbose: boolean,
  onLog?: (message: string, meta: Record<string, unknown>) => void,
): LoggerService {
  const make = (fields: Record<string, unknown>): LoggerService => {
    const write =
      (level: string, always: boolean) => (message: string, meta?: unknown) => {
        const all = {
          ...fields,
          ...(meta && typeof meta === 'object' ? meta : {}),
        };
        onLog?.(message, all);
        if (!always && !verbose) return;
        const extra = Object.keys(all).length ? ` ${JSON.stringify(all)}` : '';
        process.stderr.write(`  [backend ${level}] ${message}${extra}\n`);
      };
    return {
      error: write('error', true),
      warn: write('warn', true),
      info: write('info', false),
      debug: write('debug', false),
      child: meta => make({ ...fields, ...meta }),
    };
  };
  return make({});
}
