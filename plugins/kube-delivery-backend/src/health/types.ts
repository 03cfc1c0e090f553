import type {
  EnvironmentHealth,
  HealthFinding,
  HealthStatus,
} from '@internal/plugin-kube-delivery-common';

// Defined once, in the API spec (where `check` and `action` are described).
export type { EnvironmentHealth, HealthFinding, HealthStatus };

const RANK: Record<HealthStatus, number> = { ok: 0, warning: 1, error: 2 };

/** The worse of the statuses; ok for none. */
export function worstStatus(statuses: HealthStatus[]): HealthStatus {
  return statuses.reduce<HealthStatus>(
    (worst, s) => (RANK[s] > RANK[worst] ? s : worst),
    'ok',
  );
}
