import type { Config } from '@backstage/config';

export interface HealthSettings {
  intervalSeconds: number;
  initialDelaySeconds: number;
}

/** `kubeDelivery.health`, with defaults: every 5 minutes, first 15 s after start. */
export function readHealthSettings(root: Config): HealthSettings {
  const config = root.getOptionalConfig('kubeDelivery.health');
  const intervalSeconds = config?.getOptionalNumber('intervalSeconds') ?? 300;
  const initialDelaySeconds =
    config?.getOptionalNumber('initialDelaySeconds') ?? 15;
  if (!(intervalSeconds >= 10)) {
    throw new Error('kubeDelivery.health.intervalSeconds must be at least 10');
  }
  if (!(initialDelaySeconds >= 0)) {
    throw new Error(
      'kubeDelivery.health.initialDelaySeconds must not be negative',
    );
  }
  return { intervalSeconds, initialDelaySeconds };
}
