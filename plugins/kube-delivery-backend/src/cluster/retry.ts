import { setTimeout as delay } from 'node:timers/promises';
import { isTransientError, retryAfterMs } from './errors';

export interface RetryOptions {
  /** Attempts in all, the first included. Default 4. */
  attempts?: number;
  /** Delay cap of the first retry; doubles per retry. Default 250 ms. */
  baseDelayMs?: number;
  /** Largest delay between attempts. Default 4000 ms. */
  maxDelayMs?: number;
  /** Epoch milliseconds after which no further attempt starts. */
  deadline?: number;
  signal?: AbortSignal;
  /** Which errors are worth another attempt. Default: {@link isTransientError}. */
  isRetryable?: (error: unknown) => boolean;
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * Delay before retry number `retry` (1-based): "equal jitter", a random value
 * between half and all of min(maxDelayMs, baseDelayMs * 2^(retry-1)), so
 * concurrent clients spread out but never hammer the server back-to-back.
 */
export function backoffDelay(
  retry: number,
  baseDelayMs: number,
  maxDelayMs: number,
  random: () => number = Math.random,
): number {
  const cap = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(cap / 2 + random() * (cap / 2));
}

/** Sleeps, rejecting with the signal's reason when it is aborted. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  signal?.throwIfAborted();
  try {
    await delay(ms, undefined, { signal });
  } catch (error) {
    if (signal?.aborted) signal.throwIfAborted();
    throw error;
  }
}

/**
 * Runs `fn` until it succeeds, a non-retryable error occurs, the attempts are
 * used up, the deadline passes or the signal aborts; then throws the last error.
 * A server's Retry-After (429/503) is honoured up to 30 s.
 */
export async function withRetry<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const {
    attempts = 4,
    baseDelayMs = 250,
    maxDelayMs = 4000,
    deadline,
    signal,
    isRetryable = isTransientError,
    onRetry,
  } = options;
  for (let attempt = 1; ; attempt++) {
    signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= attempts || signal?.aborted || !isRetryable(error)) {
        throw error;
      }
      let wait = backoffDelay(attempt, baseDelayMs, maxDelayMs);
      const serverWait = retryAfterMs(error);
      if (serverWait !== undefined)
        wait = Math.min(Math.max(wait, serverWait), 30_000);
      if (deadline !== undefined) {
        const left = deadline - Date.now();
        if (left <= 0) throw error;
        wait = Math.min(wait, left);
      }
      onRetry?.(error, attempt, wait);
      await sleep(wait, signal);
    }
  }
}
