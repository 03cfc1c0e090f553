import { useState } from 'react';
import type { Outcome } from './OutcomeAlert';
import { reasonOf } from './format';

/**
 * Actions a user starts from one component: `busy` while one runs, and the
 * `outcome` of the last (for an OutcomeAlert). `act` clears the outcome and
 * runs an action; when it succeeds the outcome says `success` and
 * `onSuccess` runs (e.g. a reload), when it fails the outcome (or
 * `onError`, given) gets the reason. It resolves to whether it succeeded.
 */
export function useActions(onSuccess: () => void) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>();
  const act = async <T>(
    run: () => Promise<T>,
    success: string | ((result: T) => string),
    onError?: (message: string) => void,
  ): Promise<boolean> => {
    setBusy(true);
    setOutcome(undefined);
    try {
      const result = await run();
      setOutcome({
        severity: 'success',
        message: typeof success === 'string' ? success : success(result),
      });
      onSuccess();
      return true;
    } catch (e) {
      if (onError) onError(reasonOf(e));
      else setOutcome({ severity: 'error', message: reasonOf(e) });
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { busy, outcome, setOutcome, act };
}
