import { InputError } from '@backstage/errors';
import type { DeliveryConfig, EnvironmentConfig } from './environments';

/**
 * The configured environments, created once in plugin.ts and shared by every
 * part of the plugin: one lookup, one error for a name that is not configured.
 */
export class EnvironmentRegistry {
  static fromConfig(config: Pick<DeliveryConfig, 'environments' | 'lifecycle'>) {
    return new EnvironmentRegistry(config.environments, config.lifecycle);
  }

  private readonly byName: Map<string, EnvironmentConfig>;
  private readonly inLifecycleOrder: EnvironmentConfig[];

  /** `lifecycle`: the promotion order (default: the order of `environments`). */
  constructor(
    environments: ReadonlyArray<EnvironmentConfig>,
    lifecycle: ReadonlyArray<string> = environments.map(e => e.name),
  ) {
    this.byName = new Map(environments.map(e => [e.name, e]));
    const rank = (name: string) => {
      const index = lifecycle.indexOf(name);
      return index === -1 ? lifecycle.length : index;
    };
    this.inLifecycleOrder = [...environments].sort(
      (a, b) => rank(a.name) - rank(b.name),
    );
  }

  /** Every environment, in lifecycle order (those outside the lifecycle last). */
  list(): EnvironmentConfig[] {
    return [...this.inLifecycleOrder];
  }

  names(): string[] {
    return this.inLifecycleOrder.map(e => e.name);
  }

  /** The environment named so, if configured. */
  get(name: string): EnvironmentConfig | undefined {
    return this.byName.get(name);
  }

  /** The environment named so; a 400 naming the configured ones otherwise. */
  require(name: string): EnvironmentConfig {
    const environment = this.byName.get(name);
    if (!environment) {
      throw new InputError(
        `Unknown environment "${String(name).slice(0, 63)}"; configured: ${[
          ...this.byName.keys(),
        ].join(', ')}`,
      );
    }
    return environment;
  }
}
