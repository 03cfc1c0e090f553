/** How bad a finding is. */
export type HealthStatus = 'ok' | 'warning' | 'error';

/** One thing a health check found about an environment. */
export interface HealthFinding {
  /**
   * What was checked: `cluster`, `credentials`, `credentials:<verb> <resource>`,
   * `istio-crds`, `sidecar-injection`, `pod-security` or `gateway`. Stable between checks, so
   * changes can be told apart.
   */
  check: string;
  status: HealthStatus;
  message: string;
  /** What to do about it; empty when the status is ok. */
  action: string;
}

/** The result of checking one environment. */
export interface EnvironmentHealth {
  environment: string;
  /** The worst status of the findings. */
  status: HealthStatus;
  /** ISO 8601. */
  checkedAt: string;
  findings: HealthFinding[];
}

const RANK: Record<HealthStatus, number> = { ok: 0, warning: 1, error: 2 };

/** The worse of the statuses; ok for none. */
export function worstStatus(statuses: HealthStatus[]): HealthStatus {
  return statuses.reduce<HealthStatus>(
    (worst, s) => (RANK[s] > RANK[worst] ? s : worst),
    'ok',
  );
}
