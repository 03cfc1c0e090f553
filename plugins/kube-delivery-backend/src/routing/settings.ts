import type { Config } from '@backstage/config';

/** `kubeDelivery.routing`: rule lifetimes and the routing task's schedule. */
export interface RoutingSettings {
  /** Lifetime of a rule created without `ttlMinutes`. */
  defaultTtlMinutes: number;
  /** The longest lifetime a rule may be given, on creation or extension. */
  maxTtlMinutes: number;
  /** Seconds between runs of the task that removes expired rules and puts back hand edits. */
  intervalSeconds: number;
}

export const DEFAULT_ROUTING_SETTINGS: RoutingSettings = {
  defaultTtlMinutes: 8 * 60,
  maxTtlMinutes: 7 * 24 * 60,
  intervalSeconds: 60,
};

/** Reads and checks `kubeDelivery.routing`; a mistake stops start-up with a clear message. */
export function readRoutingSettings(root: Config): RoutingSettings {
  const config = root.getOptionalConfig('kubeDelivery.routing');
  const read = (key: keyof RoutingSettings, min: number, max: number) => {
    const value =
      config?.getOptionalNumber(key) ?? DEFAULT_ROUTING_SETTINGS[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new Error(
        `kubeDelivery.routing.${key} must be a whole number from ${min} to ${max}`,
      );
    }
    return value;
  };
  const maxTtlMinutes = read('maxTtlMinutes', 1, 366 * 24 * 60);
  const defaultTtlMinutes = read('defaultTtlMinutes', 1, 366 * 24 * 60);
  if (defaultTtlMinutes > maxTtlMinutes) {
    throw new Error(
      `kubeDelivery.routing.defaultTtlMinutes (${defaultTtlMinutes}) must not exceed maxTtlMinutes (${maxTtlMinutes})`,
    );
  }
  return {
    defaultTtlMinutes,
    maxTtlMinutes,
    intervalSeconds: read('intervalSeconds', 5, 24 * 3600),
  };
}
