import type { AuditorService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { NotAllowedError } from '@backstage/errors';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryRoutePermission,
  type RouteExtension,
} from '@internal/plugin-kube-delivery-common';
import type express from 'express';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { actorOf } from '../http/actor';
import type { ApiRouter } from '../http/apiRouter';
import { runAudited } from '../http/audited';
import type { EntityGates } from '../http/entityGates';
import type { RouteAdminCheck, RoutingService } from './RoutingService';
import { ruleViewerOf } from './ruleValues';

const entityPath = '/entities/:kind/:namespace/:name';

type RuleRequest = express.Request<{
  kind: string;
  namespace: string;
  name: string;
  id: string;
}>;

/**
 * Feature-branch routing rules, the route tester and branch removal. Rules
 * change with `kube-delivery.route` in their environment; whose rule it is
 * (its owner, or a route admin there) the routing service checks. Each change
 * is an auditor event.
 */
export function addRoutingRoutes(
  router: ApiRouter,
  options: {
    gates: EntityGates;
    auditor: AuditorService;
    environments: EnvironmentRegistry;
    routing: RoutingService;
  },
): void {
  const { gates, auditor, environments, routing } = options;

  router.get(`${entityPath}/routes`, async (req, res) => {
    const found = await gates.authorizedEntity(req, kubeDeliveryReadPermission);
    // Rule values only to their owners and to those who may route there.
    const viewer = ruleViewerOf(found.credentials, environment =>
      gates.mayOnTarget(found, kubeDeliveryRoutePermission, environment),
    );
    res.json({
      items: await routing.listRules(
        found.entityRef,
        req.query.environment,
        viewer,
      ),
    });
  });

  router.post(`${entityPath}/routes/test`, async (req, res) => {
    const { entity } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    res.json(
      await routing.test({
        entity,
        environment: req.body.environment,
        headers: req.body.headers ?? {},
      }),
    );
  });

  router.post(`${entityPath}/routes`, async (req, res) => {
    const found = await gates.entityInPath(req);
    const { environment, branch, kind, key, value, ttlMinutes } = req.body;
    await gates.authorizeTarget(
      found,
      kubeDeliveryRoutePermission,
      environment,
    );
    const { entity, entityRef, credentials } = found;
    const rule = await runAudited(
      auditor,
      {
        request: req,
        eventId: 'route-create',
        meta: { entityRef, environment, branch, kind: kind ?? null },
      },
      () =>
        routing.createRule({
          entity,
          environment,
          branch,
          kind,
          key,
          value,
          ttlMinutes,
          owner: actorOf(credentials),
        }),
    );
    res.status(201).json(rule);
  });

  /**
   * The gate of a change to one rule: the route permission in the rule's
   * environment. Whose rule it is (its owner, or a route admin there) the
   * routing service checks, asking `isRouteAdmin` only of others' rules.
   */
  async function authorizedRule(req: RuleRequest) {
    const found = await gates.entityInPath(req);
    const rule = (await routing.listRules(found.entityRef)).find(
      r => r.id === req.params.id,
    );
    const isRouteAdmin = (environment: string) =>
      gates.mayOnTarget(found, kubeDeliveryRouteAdminPermission, environment);
    if (rule) {
      await gates.authorizeTarget(
        found,
        kubeDeliveryRoutePermission,
        rule.environment,
      );
      return { ...found, isRouteAdmin };
    }
    // An unknown or expired rule: whoever may route on the entity in an
    // environment that takes feature branches is told (an audited 404).
    const names = environments
      .list()
      .filter(e => e.featureBranches)
      .map(e => e.name);
    const allowed = await Promise.all(
      names.map(name =>
        gates.mayOnTarget(found, kubeDeliveryRoutePermission, name),
      ),
    );
    if (!allowed.includes(true)) {
      throw new NotAllowedError(
        `You may not ${kubeDeliveryRoutePermission.name} on ${
          found.entityRef
        } in ${
          names.join(', ') || 'any environment'
        }; ask the entity's owners or your platform team`,
      );
    }
    return { ...found, isRouteAdmin };
  }

  /** A change to one rule: its gate, then the change as an auditor event. */
  async function changeRule<T>(
    req: RuleRequest,
    eventId: string,
    change: (rule: {
      entity: Entity;
      id: string;
      actor: string;
      isRouteAdmin: RouteAdminCheck;
    }) => Promise<T>,
  ): Promise<T> {
    const { entity, entityRef, credentials, isRouteAdmin } =
      await authorizedRule(req);
    const { id } = req.params;
    return runAudited(
      auditor,
      { request: req, eventId, meta: { entityRef, id } },
      () => change({ entity, id, actor: actorOf(credentials), isRouteAdmin }),
    );
  }

  router.delete(`${entityPath}/routes/:id`, async (req, res) => {
    res.json(
      await changeRule(req, 'route-delete', rule =>
        routing.deleteRule(rule.entity, rule.id, rule.actor, rule.isRouteAdmin),
      ),
    );
  });

  // The typed router has no PATCH; the spec still checks the request.
  router.patch(
    `${entityPath}/routes/:id`,
    async (
      req: express.Request<RuleRequest['params'], unknown, RouteExtension>,
      res: express.Response,
    ) => {
      res.json(
        await changeRule(req, 'route-extend', rule =>
          routing.extendRule({ ...rule, ttlMinutes: req.body.ttlMinutes }),
        ),
      );
    },
  );

  // Changes routes and deletes workloads: both the route and the deploy permission there.
  router.delete(
    `${entityPath}/branches/:environment/:branch`,
    async (req, res) => {
      const found = await gates.entityInPath(req);
      const { environment, branch } = req.params;
      await gates.authorizeTarget(
        found,
        [kubeDeliveryRoutePermission, kubeDeliveryDeployPermission],
        environment,
      );
      const { entity, entityRef, credentials } = found;
      const removal = await runAudited(
        auditor,
        {
          request: req,
          eventId: 'branch-delete',
          meta: { entityRef, environment, branch },
        },
        () =>
          routing.removeBranch({
            entity,
            environment,
            branch,
            actor: actorOf(credentials),
          }),
      );
      res.json(removal);
    },
  );
}
