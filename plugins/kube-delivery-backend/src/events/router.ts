import type { HttpAuthService } from '@backstage/backend-plugin-api';
import { kubeDeliveryRoutePermission } from '@internal/plugin-kube-delivery-common';
import express from 'express';
import Router from 'express-promise-router';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { readBody } from '../http/body';
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
export function createEventsRouter(options: {
  httpAuth: HttpAuthService;
  authorizer: KubeDeliveryAuthorizer;
  environments: EnvironmentRegistry;
  events: EnvironmentEvents;
}): express.Router {
  const { httpAuth, authorizer, environments, events } = options;
  const router = Router();

  router.get('/environments/:name/events', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = readBody(req.query, {
      limit: 'optional',
      before: 'optional',
    });
    const { limit, before } = readPage(query);
    const page = await events.list({
      environment: environments.require(req.params.name).name,
      limit,
      before,
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

  return router;
}
