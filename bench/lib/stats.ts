/** Percentiles and formatting shared by the bench scripts. */
import os from 'node:os';

/** The p-th percentile (0..100) by the nearest-rank method. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export const ms = (value: number) => `${value.toFixed(1)} ms`;
export const round2 = (value: number) => Math.round(value * 100) / 100;

/**
 * Runs `clients` concurrent loops, each calling `request` `perClient` times
 * in sequence; returns the latencies in ms of the requests that did not
 * throw, the wall time, and how many threw (with the first error's cause).
 */
export async function concurrentLoad(options: {
  clients: number;
  perClient: number;
  request: (client: number, i: number) => Promise<void>;
}): Promise<{
  latencies: number[];
  wallMs: number;
  errors: number;
  firstError?: string;
}> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: options.clients }, async (_, client) => {
      for (let i = 0; i < options.perClient; i++) {
        const start = performance.now();
        try {
          await options.request(client, i);
          latencies.push(performance.now() - start);
        } catch (error) {
          errors++;
          const e = error as Error & { cause?: Error };
          firstError ??= `${e.message}${
            e.cause ? ` (${e.cause.message})` : ''
          }`;
        }
      }
    }),
  );
  return { latencies, wallMs: performance.now() - t0, errors, firstError };
}

/** Reads `--name value` / `--name=value` integer options with defaults. */
export function intOption(
  argv: string[],
  name: string,
  fallback: number,
): number {
  const index = argv.findIndex(a => a === name || a.startsWith(`${name}=`));
  if (index === -1) return fallback;
  const raw = argv[index].includes('=')
    ? argv[index].split('=', 2)[1]
    : argv[index + 1];
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(
      `${name} must be a positive integer, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}

/** The machine's load, printed with every run: the numbers mean little on a busy machine. */
export function loadNote(): string {
  return `load average ${os
    .loadavg()
    .map(l => l.toFixed(1))
    .join(' ')} on ${os.cpus().length} cores`;
}
