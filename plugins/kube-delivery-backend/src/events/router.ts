import type { HttpAuthService } from '@backstage/backend-plugin-api';
import { kubeDeliveryRoutePermission } from '@internal/plugin-kube-delivery-common';
import type { ApiRouter } from '../http/apiRouter';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { readPage } from '../http/page';
import type { KubeDeliveryAuthorizer } from '../permissions/authorize';
import {
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
} from '../routing/ruleValues';
import type { EnvironmentEvents } from './EnvironmentEvents';

/**
 * `GET /environments/:name/events`: the environment's timeline, newest
 * first, with user or service credentials. An entity's events are shown only
 * to those who may read the entity's Kube Delivery data (`kube-delivery.read`),
 * and rule values only to their owners and to those who may route on the
 * entity there; environment-wide events to everyone.
 */
export function addEventRoutes(
  router: ApiRouter,
  options: {
  httpAuth: HttpAuthService;
  authorizer: KubeDeliveryAuthorizer;
  environments: EnvironmentRegistry;
  events: EnvironmentEvents;
  },
): void {
  const { httpAuth, authorizer, environments, events } = options;

  router.get('/environments/:name/events', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const page = await events.list({
      environment: environments.require(req.params.name).name,
      ...readPage(req.query),
    });
    // A page may hold fewer items than the limit; nextCursor still pages on.
    const readable = await authorizer.readableEntities(
      credentials,
      page.items.flatMap(event => (event.entityRef ? [event.entityRef] : [])),
    );
    // Rule values: to their owners, and to those who may route on the
    // entity here (one question to the policy, its conditions applied to
    // each entity of the page).
    const entityRefs = [...readable];
    const mayRoute = await authorizer.decideMany(
      credentials,
      [kubeDeliveryRoutePermission],
      entityRefs.map(entityRef => ({
        environment: req.params.name,
        entityRef,
      })),
    );
    const gates = new Map(
      entityRefs.map((entityRef, i) => [
        entityRef,
        ruleValueGate(ruleViewerOf(credentials, () => mayRoute[i][0])),
      ]),
    );
    const items = await Promise.all(
      page.items
        .filter(event => !event.entityRef || readable.has(event.entityRef))
        .map(event =>
          event.entityRef
            ? routeEventAsSeenBy(event, gates.get(event.entityRef)!)
            : event,
        ),
    );
    res.json({ ...page, items });
  });

}
