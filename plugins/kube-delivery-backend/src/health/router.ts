import type {
  AuditorService,
  HttpAuthService,
} from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import { kubeDeliveryRoutePermission } from '@internal/plugin-kube-delivery-common';
import express from 'express';
import Router from 'express-promise-router';
import { actorOf } from '../http/actor';
import type { KubeDeliveryAuthorizer } from '../permissions/authorize';
import {
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
} from '../routing/ruleValues';
import { runAudited } from '../http/audited';
import { readBody } from '../http/body';
import { EVENT_CURSOR } from './HealthStore';
import type { HealthService } from './HealthService';

const MAX_PAGE = 100;

/**
 * `GET|POST /environments/:name/health` and `GET /environments/:name/history`.
 * Every route needs user or service credentials. The history shows an
 * entity's events only to those who may read the entity's Kube Delivery data
 * (`kube-delivery.read`), and rule values only to their owners and to those
 * who may route on the entity there; environment-wide events to everyone.
 */
export function createHealthRouter(options: {
  httpAuth: HttpAuthService;
  auditor: AuditorService;
  health: HealthService;
  authorizer: KubeDeliveryAuthorizer;
}): express.Router {
  const { httpAuth, auditor, health, authorizer } = options;
  const router = Router();

  router.get('/environments/:name/health', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    res.json(await health.latest(req.params.name, actorOf(credentials)));
  });

  router.post('/environments/:name/health', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    health.environment(req.params.name);
    const result = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'environment-health-check',
        severityLevel: 'low',
        meta: { environment: req.params.name },
        successMeta: checked => ({ status: checked.status }),
      },
      () => health.check(req.params.name, actorOf(credentials)),
    );
    res.json(result);
  });

  router.get('/environments/:name/history', async (req, res) => {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const query = readBody(req.query, {
      limit: 'optional',
      before: 'optional',
    });
    const limit = query.limit === undefined ? 20 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new InputError(`limit must be an integer from 1 to ${MAX_PAGE}`);
    }
    if (query.before !== undefined && !EVENT_CURSOR.test(query.before)) {
      throw new InputError(
        'before must be a nextCursor value from an earlier page',
      );
    }
    const page = await health.history({
      environment: req.params.name,
      limit,
      before: query.before,
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
