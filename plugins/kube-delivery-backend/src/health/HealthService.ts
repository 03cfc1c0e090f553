import type {
  LoggerService,
  SchedulerService,
} from '@backstage/backend-plugin-api';
import type { ClusterClients } from '../cluster/ClusterClients';
import type { EnvironmentConfig } from '../config/environments';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { checkEnvironment } from './checkEnvironment';
import type { NewEnvironmentEvent } from '../events';
import type { DeliveryNotifier } from '../notifications';
import type { HealthStore } from './HealthStore';
import type { EnvironmentHealth, HealthFinding, HealthStatus } from './types';

/** The actor of scheduled checks in the history. */
export const SCHEDULED_ACTOR = 'kube-delivery:health-check';

export interface HealthChange {
  check: string;
  from: HealthStatus;
  to: HealthStatus;
  message: string;
  action: string;
}

/**
 * What changed between two checks. A finding absent from one side counts as
 * ok there: a denied permission appears as its own finding and disappears
 * again when granted.
 */
export function diffFindings(
  previous: HealthFinding[],
  current: HealthFinding[],
): HealthChange[] {
  const before = new Map(previous.map(f => [f.check, f]));
  const after = new Map(current.map(f => [f.check, f]));
  const changes: HealthChange[] = [];
  for (const check of new Set([...before.keys(), ...after.keys()])) {
    const from = before.get(check)?.status ?? 'ok';
    const to = after.get(check)?.status ?? 'ok';
    if (from !== to) {
      const now = after.get(check);
      changes.push({
        check,
        from,
        to,
        message: now?.message ?? `${check}: no longer reported`,
        action: now?.action ?? '',
      });
    }
  }
  return changes;
}

/** Environment health: checks and the cached latest result; a change is recorded in the environment timeline. */
export class HealthService {
  private readonly running = new Map<string, Promise<EnvironmentHealth>>();

  constructor(
    private readonly options: {
      environments: EnvironmentRegistry;
      clusters: ClusterClients;
      store: HealthStore;
      logger: LoggerService;
      /** Tells the platform team when an environment turns to error. */
      notifier?: Pick<DeliveryNotifier, 'environmentUnhealthy'>;
    },
  ) {}

  /** The configured environment; a 400 for an unknown name. */
  environment(name: string): EnvironmentConfig {
    return this.options.environments.require(name);
  }

  /** The latest stored check, or a check now when there is none. */
  async latest(name: string, actor: string): Promise<EnvironmentHealth> {
    const environment = this.environment(name);
    return (
      (await this.options.store.getHealth(environment.name)) ??
      this.check(environment.name, actor)
    );
  }

  /**
   * Checks an environment now, stores the result and records a
   * health-changed event when a finding's status changed. Concurrent calls
   * for one environment share one check.
   */
  check(name: string, actor: string): Promise<EnvironmentHealth> {
    const environment = this.environment(name);
    let pending = this.running.get(environment.name);
    if (!pending) {
      pending = this.runCheck(environment, actor).finally(() =>
        this.running.delete(environment.name),
      );
      this.running.set(environment.name, pending);
    }
    return pending;
  }

  /** Checks every environment; used by the scheduled task. */
  async checkAll(): Promise<void> {
    for (const environment of this.options.environments.list()) {
      try {
        await this.check(environment.name, SCHEDULED_ACTOR);
      } catch (error) {
        this.options.logger.error('environment health check failed', {
          environment: environment.name,
          error: (error as Error).message,
        });
      }
    }
  }

  /** Runs the checks on a schedule, on one backend replica at a time. */
  async schedule(
    scheduler: SchedulerService,
    settings: { intervalSeconds: number; initialDelaySeconds: number },
  ): Promise<void> {
    await scheduler.scheduleTask({
      id: 'kube-delivery-environment-health',
      frequency: { seconds: settings.intervalSeconds },
      timeout: { seconds: Math.max(60, settings.intervalSeconds) },
      initialDelay: { seconds: settings.initialDelaySeconds },
      scope: 'global',
      fn: () => this.checkAll(),
    });
  }

  private async runCheck(
    environment: EnvironmentConfig,
    actor: string,
  ): Promise<EnvironmentHealth> {
    const health = await checkEnvironment(environment, () =>
      this.options.clusters.health(environment),
    );
    const { store, logger } = this.options;
    // Compare-and-set on the stored latest, so that two replicas checking at
    // once record a change once.
    for (let attempt = 0; attempt < 3; attempt++) {
      const previous = await store.getHealth(environment.name);
      if (previous && previous.checkedAt >= health.checkedAt) return previous;
      const changes = diffFindings(previous?.findings ?? [], health.findings);
      const from = previous?.status ?? 'unknown';
      const event: NewEnvironmentEvent | undefined = changes.length
        ? {
            environment: environment.name,
            kind: 'health-changed',
            message: `Health of ${environment.name}: ${
              from === health.status
                ? health.status
                : `${from} → ${health.status}`
            }; ${changes
              .map(c => `${c.check} ${c.from} → ${c.to}`)
              .join(', ')}`,
            details: { from, to: health.status, changes },
            actor,
          }
        : undefined;
      if (await store.saveHealth(health, previous?.checkedAt, event)) {
        if (event) {
          logger.info('environment health changed', {
            environment: environment.name,
            from,
            to: health.status,
            checks: changes.map(c => c.check).join(','),
          });
          if (health.status === 'error' && from !== 'error') {
            this.options.notifier?.environmentUnhealthy({
              environment: environment.name,
              from,
              findings: health.findings.filter(f => f.status === 'error'),
            });
          }
        }
        return health;
      }
    }
    return health;
  }
}
