import type { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import {
  parseEntityRef,
  RELATION_OWNED_BY,
  stringifyEntityRef,
  type Entity,
} from '@backstage/catalog-model';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import type { NotificationPayload } from '@backstage/plugin-notifications-common';
import type { NotificationService } from '@backstage/plugin-notifications-node';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { NotificationSettings } from './config';
import {
  approvalRequestedPayload,
  certificateExpiringPayload,
  deploymentOutcomePayload,
  environmentUnhealthyPayload,
  type DeploymentFacts,
  type ExpiringCertificate,
  type UnhealthyEnvironment,
} from './messages';

/** How long `stop()` waits for notifications still being sent. */
const STOP_GRACE_MS = 5_000;

/**
 * The owner of an entity as the catalog resolved it (its `ownedBy`
 * relation), or its `spec.owner` made a full ref; undefined when neither
 * names a valid entity.
 */
export function ownerOf(entity: Entity): string | undefined {
  const relation = entity.relations?.find(r => r.type === RELATION_OWNED_BY);
  const owner = relation?.targetRef ?? entity.spec?.owner;
  if (typeof owner !== 'string' || !owner) return undefined;
  try {
    return stringifyEntityRef(
      parseEntityRef(owner, {
        defaultKind: 'group',
        defaultNamespace: entity.metadata.namespace ?? 'default',
      }),
    );
  } catch {
    return undefined;
  }
}

/**
 * Tells people what Kube Delivery did through Backstage's notifications
 * backend: a service's owners about its deploys (a success in a protected
 * environment, a failure, an automatic rollback, a wait for approval), the
 * platform group (`kubeDelivery.notifications.platformGroup`) about
 * expiring gateway certificates and environments turning unhealthy.
 *
 * Best effort: every method returns at once and never throws; the send
 * runs in the background and a failure (no notifications backend, an
 * unknown owner) is logged as a warning. A deploy never waits for it.
 */
export class DeliveryNotifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly options: {
      notifications: NotificationService;
      catalog: CatalogService;
      auth: AuthService;
      environments: EnvironmentRegistry;
      settings: NotificationSettings;
      logger: LoggerService;
    },
  ) {}

  /** A deployment finished: its owners hear of a failure, an automatic rollback, or a success in a protected environment. */
  deploymentFinished(deployment: DeploymentFacts): void {
    const environment = this.options.environments.get(deployment.environment);
    if (!environment) return;
    const payload = deploymentOutcomePayload(deployment, environment);
    if (!payload) return;
    this.background(
      { deploymentId: deployment.id, topic: payload.topic },
      async () => this.sendToOwners(deployment.entityRef, payload),
    );
  }

  /**
   * A deployment into a protected environment waits: its owners hear that
   * it needs their approval, but its requester (who may not approve it).
   */
  approvalRequested(deployment: DeploymentFacts, expiresAt?: string): void {
    const payload = approvalRequestedPayload(deployment, expiresAt);
    this.background(
      { deploymentId: deployment.id, topic: payload.topic },
      async () =>
        this.sendToOwners(deployment.entityRef, payload, deployment.createdBy),
    );
  }

  /** The expiry check flagged a gateway certificate: the platform group hears of it. */
  certificateExpiring(certificate: ExpiringCertificate): void {
    this.toPlatform(certificateExpiringPayload(certificate), {
      environment: certificate.environment,
    });
  }

  /** An environment's health turned to error: the platform group hears of it. */
  environmentUnhealthy(unhealthy: UnhealthyEnvironment): void {
    this.toPlatform(environmentUnhealthyPayload(unhealthy), {
      environment: unhealthy.environment,
    });
  }

  /** Waits (a few seconds at most) for notifications still being sent. */
  async stop(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.pending]),
      new Promise(resolve => {
        timer = setTimeout(resolve, STOP_GRACE_MS);
      }),
    ]);
    clearTimeout(timer);
  }

  private toPlatform(
    payload: NotificationPayload,
    log: Record<string, string>,
  ): void {
    const group = this.options.settings.platformGroup;
    if (!group) return;
    this.background({ ...log, topic: payload.topic }, () =>
      this.options.notifications.send({
        recipients: { type: 'entity', entityRef: group },
        payload,
      }),
    );
  }

  private async sendToOwners(
    entityRef: string,
    payload: NotificationPayload,
    exclude?: string,
  ) {
    const { catalog, auth, notifications } = this.options;
    const entity = await catalog.getEntityByRef(entityRef, {
      credentials: await auth.getOwnServiceCredentials(),
    });
    const owner = entity && ownerOf(entity);
    if (!owner) {
      throw new Error(`${entityRef} has no owner in the catalog`);
    }
    await notifications.send({
      recipients: {
        type: 'entity',
        entityRef: owner,
        ...(exclude && { excludeEntityRef: exclude }),
      },
      payload,
    });
  }

  private background(log: Record<string, unknown>, send: () => Promise<void>) {
    const run = (async () => {
      try {
        await send();
      } catch (error) {
        this.options.logger.warn('notification not sent', {
          ...log,
          error: String(error),
        });
      }
    })();
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }
}
