import type { Config } from '@backstage/config';

/** How approvals for protected environments behave. */
export interface ApprovalSettings {
  /** How long a deployment waits for approval before it expires. */
  expiryMs: number;
}

/** One day, as Octopus's manual interventions and GitLab's deployment approvals are commonly given. */
export const DEFAULT_EXPIRY_MINUTES = 1440;

/** Reads `kubeDelivery.approvals` (see config.d.ts); a bad value refuses the start. */
export function readApprovalSettings(config: Config): ApprovalSettings {
  const key = 'kubeDelivery.approvals.expiryMinutes';
  const minutes = config.getOptionalNumber(key) ?? DEFAULT_EXPIRY_MINUTES;
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 525_600) {
    throw new Error(
      `${key} must be a number of minutes above 0 and at most 525600 (a year), not ${minutes}`,
    );
  }
  return { expiryMs: Math.round(minutes * 60_000) };
}

/**
 * How often the expiry task looks for lapsed approvals: every minute, or a
 * tenth of a short expiry (at most every 5 seconds).
 */
export function expirySweepSeconds(settings: ApprovalSettings): number {
  return Math.min(60, Math.max(5, Math.round(settings.expiryMs / 10_000)));
}

/** "1440 minutes", "30 seconds": an expiry in words. */
export function durationWords(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) {
    const minutes = ms / 60_000;
    return `${minutes} minute${minutes === 1 ? '' : 's'}`;
  }
  const seconds = Math.max(1, Math.round(ms / 1000));
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}
