import type { BackstageCredentials } from '@backstage/backend-plugin-api';
import { InputError } from '@backstage/errors';
import {
  HISTORY_ENTRY_KINDS,
  kubeDeliveryReadPermission,
  type HistoryEntryKind,
} from '@internal/plugin-kube-delivery-common';
import type { ResourcePermission } from '@backstage/plugin-permission-common';
import express from 'express';
import Router from 'express-promise-router';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import type { DeliveryService } from '../delivery';
import { readBody } from '../http/body';
import { readPage } from '../http/page';
import {
  routeEventAsSeenBy,
  ruleValueGate,
  ruleViewerOf,
} from '../routing/ruleValues';
import type { HistoryStore } from './HistoryStore';
import { toReleaseDetail } from './releaseDetail';

const RELEASE_ID =
  /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * `GET …/history` (the service's Release history) and `GET …/releases/:id`
 * (one release with its manifest). Mounted by the main router, which passes
 * its check of the entity in the path and a permission on it.
 *
 * Routing rule values in route changes (session ids, user ids) are shown to
 * the rule's owner and to those `mayRoute` says may route on the entity in
 * the rule's environment; to others the rule has `value: null,
 * valueHidden: true` and the message says `(hidden)`.
 */
export function createHistoryRouter(options: {
  entityPath: string;
  authorizedEntity: (
    req: express.Request,
    permission: ResourcePermission<'catalog-entity'>,
  ) => Promise<{ entityRef: string; credentials: BackstageCredentials }>;
  delivery: DeliveryService;
  environments: EnvironmentRegistry;
  history: HistoryStore;
  /**
   * Whether the caller may route on the entity in the environment (the
   * route permission), which shows them every rule value there. Without it
   * only owners see their rules' values.
   */
  mayRoute?: (input: {
    credentials: BackstageCredentials;
    entityRef: string;
    environment: string;
  }) => Promise<boolean>;
}): express.Router {
  const {
    entityPath,
    authorizedEntity,
    delivery,
    environments,
    history,
    mayRoute,
  } = options;
  const router = Router();

  router.get(`${entityPath}/history`, async (req, res) => {
    const { entityRef, credentials } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const query = readBody(req.query, {
      environment: 'optional',
      kind: 'optional',
      limit: 'optional',
      before: 'optional',
    });
    const { limit, before } = readPage(query);
    if (
      query.kind !== undefined &&
      !HISTORY_ENTRY_KINDS.includes(query.kind as HistoryEntryKind)
    ) {
      throw new InputError(
        `kind must be one of ${HISTORY_ENTRY_KINDS.join(', ')}`,
      );
    }
    // Throws a 400 naming the configured environments.
    if (query.environment !== undefined)
      environments.require(query.environment);
    const page = await history.list({
      entityRef,
      environment: query.environment,
      kind: query.kind as HistoryEntryKind | undefined,
      limit,
      before,
    });
    const visible = ruleValueGate(
      ruleViewerOf(credentials, environment =>
        mayRoute ? mayRoute({ credentials, entityRef, environment }) : false,
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
    const { entityRef } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    if (!RELEASE_ID.test(req.params.id)) {
      throw new InputError(
        'id must be a release id (a UUID) from the releases list',
      );
    }
    res.json(toReleaseDetail(await delivery.release(entityRef, req.params.id)));
  });

  return router;
}
