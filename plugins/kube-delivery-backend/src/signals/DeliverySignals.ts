import type { LoggerService } from '@backstage/backend-plugin-api';
import type { SignalsService } from '@backstage/plugin-signals-node';
import {
  kubeDeliveryEntityChannel,
  type KubeDeliveryChangeSignal,
} from '@internal/plugin-kube-delivery-common';

/** At most one signal per entity in this window: a deploy's steps come in bursts. */
const COALESCE_MS = 250;

/**
 * Tells open tabs that an entity's delivery changed, through Backstage's
 * signals, so they read again now instead of at their next poll. Best
 * effort: a failing signals service is logged, never thrown, and the tabs
 * keep polling (more slowly while signals arrive).
 *
 * Broadcast, and the message says nothing but that something changed: a
 * listener learns only the time of a change of an entity it names, and
 * reads the change through the API, which checks its permissions.
 */
export class DeliverySignals {
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly signals: Pick<SignalsService, 'publish'>,
    private readonly logger: LoggerService,
  ) {}

  changed(entityRef: string): void {
    if (this.pending.has(entityRef)) return;
    const timer = setTimeout(() => {
      this.pending.delete(entityRef);
      this.signals
        .publish<KubeDeliveryChangeSignal>({
          recipients: { type: 'broadcast' },
          channel: kubeDeliveryEntityChannel(entityRef),
          message: { type: 'changed' },
        })
        .catch(error =>
          this.logger.warn('signal not sent', {
            entityRef,
            error: (error as Error).message,
          }),
        );
    }, COALESCE_MS);
    timer.unref?.();
    this.pending.set(entityRef, timer);
  }

  stop() {
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }
}
