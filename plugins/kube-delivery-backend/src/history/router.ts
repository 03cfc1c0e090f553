import {
  kubeDeliveryReadPermission,
  kubeDeliveryRoutePermission,
} from '@internal/plugin-kube-delivery-common';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { DeliveryService } from '../delivery';
import type { ApiRouter } from '../http/apiRouter';
import type { EntityGates } from '../http/entityGates';
import { readPage } from '../http/page';
import {
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
} from '../routing/ruleValues';
import type { HistoryStore } from './HistoryStore';
import { toReleaseDetail } from './releaseDetail';

const entityPath = '/entities/:kind/:namespace/:name';

/**
 * `GET …/history` (the service's Release history) and `GET …/releases/{id}`
 * (one release with its manifest), with `kube-delivery.read` on the entity.
 *
 * Routing rule values in route changes (session ids, user ids) are shown to
 * the rule's owner and to those who may route on the entity in the rule's
 * environment; to others the rule has `value: null, valueHidden: true` and
 * the message says `(hidden)`.
 */
export function addHistoryRoutes(
  router: ApiRouter,
  options: {
    gates: EntityGates;
    delivery: DeliveryService;
    environments: EnvironmentRegistry;
    history: HistoryStore;
  },
): void {
  const { gates, delivery, environments, history } = options;

  router.get(`${entityPath}/history`, async (req, res) => {
    const found = await gates.authorizedEntity(req, kubeDeliveryReadPermission);
    const { environment, entryKind: kind } = req.query;
    // Throws a 400 naming the configured environments.
    if (environment !== undefined) environments.require(environment);
    const page = await history.list({
      entityRef: found.entityRef,
      environment,
      kind,
      ...readPage(req.query),
    });
    const visible = ruleValueGate(
      ruleViewerOf(found.credentials, env =>
        gates.mayOnTarget(found, kubeDeliveryRoutePermission, env),
      ),
    );
    res.json({
      ...page,
      items: await Promise.all(
        page.items.map(entry => routeEventAsSeenBy(entry, visible)),
      ),
    });
  });

  router.get(`${entityPath}/releases/:id`, async (req, res) => {
    const { entityRef } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    res.json(toReleaseDetail(await delivery.release(entityRef, req.params.id)));
  });
}
