import { useCallback, useEffect, useRef, useState } from 'react';

/** While signals arrive, only every this many poll intervals reads again. */
export const PUSHED_POLL_EVERY = 10;

/** What the backend pushed: the last signal (a new object per signal) and whether signals work at all. */
export interface PushedChanges {
  signal: unknown;
  available: boolean;
}

/** The state of a polled load: `loading` is true only until the first answer. */
export interface PolledAsyncState<T> {
  value?: T;
  error?: Error;
  loading: boolean;
  /** Loads again now, e.g. right after an action. */
  retry: () => void;
}

/**
 * Like react-use's `useAsyncRetry`, repeated every `intervalMs` while mounted
 * (never again when `intervalMs` is 0).
 * Keeps the last value through a failed poll (the error is reported beside it),
 * never runs two loads at once, and drops answers that arrive after unmount.
 */
export function usePolledAsync<T>(
  load: () => Promise<T>,
  intervalMs: number,
  deps: ReadonlyArray<unknown>,
  /** Changes pushed by the backend (see useDeliveryChanges): each loads at once; while they arrive, polls are rarer. */
  pushed?: PushedChanges,
): PolledAsyncState<T> {
  const [state, setState] = useState<{
    value?: T;
    error?: Error;
    loading: boolean;
  }>({ loading: true });
  const inFlight = useRef(false);
  const mounted = useRef(true);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const loadFn = useCallback(load, deps);

  const run = useCallback(async () => {
    if (inFlight.current) return;
    inFlight.current = true;
    try {
      const value = await loadFn();
      if (mounted.current) setState({ value, loading: false });
    } catch (e) {
      if (mounted.current) {
        setState(prev => ({ ...prev, error: e as Error, loading: false }));
      }
    } finally {
      inFlight.current = false;
    }
  }, [loadFn]);

  const pushedRef = useRef(pushed);
  pushedRef.current = pushed;
  useEffect(() => {
    if (pushed?.signal) run();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [pushed?.signal]);

  useEffect(() => {
    mounted.current = true;
    setState({ loading: true });
    run();
    let ticks = 0;
    const poll = () => {
      ticks++;
      // Polling stays the fallback: a change whose signal was lost shows later.
      if (!pushedRef.current?.available || ticks % PUSHED_POLL_EVERY === 0) {
        run();
      }
    };
    const timer = intervalMs > 0 ? setInterval(poll, intervalMs) : undefined;
    return () => {
      mounted.current = false;
      if (timer) clearInterval(timer);
    };
  }, [run, intervalMs]);

  const retry = useCallback(() => {
    run();
  }, [run]);

  return { ...state, retry };
}

/** Loads once (and again on `retry` or when `deps` change). */
export function useLoad<T>(
  load: () => Promise<T>,
  deps: ReadonlyArray<unknown>,
): PolledAsyncState<T> {
  return usePolledAsync(load, 0, deps);
}
