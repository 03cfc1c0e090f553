import type {
  AuditorService,
  BackstageCredentials,
  HttpAuthService,
  LoggerService,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { stringifyEntityRef, type Entity } from '@backstage/catalog-model';
import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import type { CatalogService } from '@backstage/plugin-catalog-node';
import {
  AuthorizeResult,
  type ResourcePermission,
} from '@backstage/plugin-permission-common';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
  kubeDeliveryRouteAdminPermission,
  kubeDeliveryRoutePermission,
  parseVersion,
  RESOURCE_TYPE_KUBE_DELIVERY_TARGET,
  type Deployment,
} from '@internal/plugin-kube-delivery-common';
import type { JsonObject } from '@backstage/types';
import express from 'express';
import Router from 'express-promise-router';
import type { DeploymentRecord } from './database';
import type { EnvironmentRegistry } from './config/EnvironmentRegistry';
import type { DeliveryService } from './delivery';
import { bypassOf, splitBypassApproval } from './approvals';
import { actorOf } from './http/actor';
import { runAudited } from './http/audited';
import { readBody } from './http/body';
import { readPage, MAX_PAGE } from './http/page';
import type { RoutingService } from './routing/RoutingService';
import { ruleViewerOf } from './routing/ruleValues';
import { createHistoryRouter, type HistoryStore } from './history';
import type { KubeDeliveryAuthorizer } from './permissions/authorize';

export interface RouterOptions {
  logger: LoggerService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  /** Permissions on targets (an entity's service in an environment), conditions evaluated here. */
  authorizer: KubeDeliveryAuthorizer;
  auditor: AuditorService;
  catalog: CatalogService;
  environments: EnvironmentRegistry;
  delivery: DeliveryService;
  /** Feature-branch routing rules; the /routes endpoints exist only with it. */
  routing?: RoutingService;
  /** The Release history; the /history and /releases/:id endpoints exist only with it. */
  history?: HistoryStore;
}

const NAME_PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

type TargetPermission = ResourcePermission<
  typeof RESOURCE_TYPE_KUBE_DELIVERY_TARGET
>;

/** The entity in the path as the caller sees it, and who the caller is. */
interface EntityInPath {
  entity: Entity;
  entityRef: string;
  credentials: BackstageCredentials;
}

export async function createRouter(
  options: RouterOptions,
): Promise<express.Router> {
  const {
    httpAuth,
    permissions,
    authorizer,
    auditor,
    catalog,
    environments,
    delivery,
  } = options;
  const router = Router();
  router.use(express.json({ limit: '64kb' }));

  /** Resolves the entity in the path, as the caller may see it (401, 400, 404); no permission asked. */
  async function entityInPath(req: express.Request): Promise<EntityInPath> {
    const credentials = await httpAuth.credentials(req, {
      allow: ['user', 'service'],
    });
    const { kind, namespace, name } = req.params;
    for (const part of [kind, namespace, name]) {
      if (!NAME_PART.test(part)) {
        throw new InputError(
          `Invalid entity reference part "${part.slice(0, 64)}"`,
        );
      }
    }
    const entityRef = stringifyEntityRef({ kind, namespace, name });
    // As the user (the catalog's permissions apply); a service principal's
    // token may be limited to Kube Delivery, so the plugin reads for it.
    const entity = await catalog.getEntityByRef(entityRef, {
      credentials: await authorizer.catalogCredentials(credentials),
    });
    if (!entity) throw new NotFoundError(`No entity ${entityRef}`);
    return { entity, entityRef, credentials };
  }

  /**
   * The gate of what is not done in an environment (reading, creating a
   * release): the entity in the path and a permission on it.
   */
  async function authorizedEntity(
    req: express.Request,
    permission: ResourcePermission<'catalog-entity'>,
  ): Promise<EntityInPath> {
    const found = await entityInPath(req);
    const [service] = authorizer.servicePrincipalDecisions(found.credentials, [
      permission,
    ]);
    if (service.result === 'deny') throw new NotAllowedError(service.message);
    const [decision] = await permissions.authorize(
      [{ permission, resourceRef: found.entityRef }],
      { credentials: found.credentials },
    );
    if (decision.result !== AuthorizeResult.ALLOW) {
      throw new NotAllowedError(
        `You may not ${permission.name} on ${found.entityRef}; ask the entity's owners or your platform team`,
      );
    }
    return found;
  }

  /**
   * The gate of what is done in an environment: every permission on the
   * target `<environment>:<entity ref>`, in one question to the policy (whose
   * conditions Backstage's permission backend evaluates through the plugin's
   * permission integration). An unknown environment is a 400 naming the
   * configured ones.
   */
  async function authorizeTarget(
    found: EntityInPath,
    permission: TargetPermission | TargetPermission[],
    environment: string,
  ): Promise<void> {
    environments.require(environment);
    await authorizer.authorize(found.credentials, permission, {
      environment,
      entityRef: found.entityRef,
    });
  }

  /** Whether the caller holds a target permission on the entity in an environment (no 403). */
  async function mayOnTarget(
    found: EntityInPath,
    permission: TargetPermission,
    environment: string,
  ): Promise<boolean> {
    const [allowed] = await authorizer.decide(found.credentials, [permission], {
      environment,
      entityRef: found.entityRef,
    });
    return allowed;
  }

  /** Runs a mutation inside an auditor event, recording success or failure. */
  function audited<T>(
    req: express.Request,
    eventId: string,
    meta: JsonObject,
    run: () => Promise<T>,
  ): Promise<T> {
    return runAudited(auditor, { request: req, eventId, meta }, run);
  }

  router.get('/environments', async (req, res) => {
    await httpAuth.credentials(req, { allow: ['user', 'service'] });
    res.json({
      items: environments.list().map(e => ({
        name: e.name,
        namespace: e.namespace,
        protected: e.protected,
        featureBranches: e.featureBranches,
        minReplicas: e.minReplicas,
        gateway: e.gateway && {
          namespace: e.gateway.namespace,
          name: e.gateway.name,
          hosts: e.gateway.hosts,
        },
      })),
    });
  });

  const entityPath = '/entities/:kind/:namespace/:name';

  router.get(`${entityPath}/status`, async (req, res) => {
    const { entityRef } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const items = await delivery.status(entityRef);
    res.json({
      items: items.map(item => ({
        ...item,
        current: item.current && toApiDeployment(item.current),
        active: item.active.map(toApiDeployment),
      })),
    });
  });

  router.get(`${entityPath}/releases`, async (req, res) => {
    const { entityRef } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const items = await delivery.listReleases(entityRef, MAX_PAGE);
    res.json({
      items: items.map(({ snapshot: _snapshot, ...release }) => release),
    });
  });

  router.post(`${entityPath}/releases`, async (req, res) => {
    const { entity, entityRef, credentials } = await authorizedEntity(
      req,
      kubeDeliveryReleaseCreatePermission,
    );
    const body = readBody(req.body, {
      version: 'required',
      image: 'optional',
      tag: 'optional',
      digest: 'optional',
    });
    const release = await audited(
      req,
      'release-create',
      { entityRef, version: body.version },
      () =>
        delivery.createRelease({
          entity,
          version: body.version!,
          image: body.image,
          tag: body.tag,
          digest: body.digest,
          createdBy: actorOf(credentials),
        }),
    );
    const { snapshot: _snapshot, ...created } = release;
    res.status(201).json(created);
  });

  router.get(`${entityPath}/feed`, async (req, res) => {
    const { entity } = await authorizedEntity(req, kubeDeliveryReadPermission);
    res.json({ items: await delivery.listFeed(entity) });
  });

  router.post(`${entityPath}/releases/from-feed`, async (req, res) => {
    const { entity, entityRef, credentials } = await authorizedEntity(
      req,
      kubeDeliveryReleaseCreatePermission,
    );
    const body = readBody(req.body, { tag: 'required' });
    const release = await audited(
      req,
      'release-create',
      { entityRef, tag: body.tag, fromFeed: true },
      () =>
        delivery.createReleaseFromFeed({
          entity,
          tag: body.tag!,
          createdBy: actorOf(credentials),
        }),
    );
    const { snapshot: _snapshot, ...created } = release;
    res.status(201).json(created);
  });

  router.get(`${entityPath}/deployments`, async (req, res) => {
    const { entityRef } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const query = readBody(req.query, {
      environment: 'optional',
      limit: 'optional',
      before: 'optional',
    });
    const { limit, before } = readPage(query);
    if (query.environment !== undefined)
      environments.require(query.environment);
    const page = await delivery.listDeployments({
      entityRef,
      environment: query.environment,
      limit,
      before,
    });
    res.json({ ...page, items: page.items.map(toApiDeployment) });
  });

  router.get(`${entityPath}/deployments/:id`, async (req, res) => {
    const { entityRef } = await authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    res.json(
      toApiDeployment(await delivery.deployment(entityRef, req.params.id)),
    );
  });

  /** Deploy and rollback: queue a deployment of a release named by id or version. */
  const queueRelease =
    (
      kind: 'deploy' | 'rollback',
      permission: TargetPermission,
      eventId: string,
    ) =>
    async (req: express.Request, res: express.Response) => {
      const found = await entityInPath(req);
      const { rest, bypassApproval } = splitBypassApproval(req.body);
      const body = readBody(rest, {
        environment: 'required',
        releaseId: 'optional',
        version: 'optional',
      });
      await authorizeTarget(found, permission, body.environment!);
      const { entity, entityRef, credentials } = found;
      const deployment = await audited(
        req,
        eventId,
        {
          entityRef,
          environment: body.environment,
          version: body.version,
          releaseId: body.releaseId,
          bypassApproval,
        },
        async () => {
          const release = body.releaseId
            ? await delivery.release(entityRef, body.releaseId)
            : await delivery.releaseByVersion(
                entityRef,
                requireVersion(body.version),
              );
          return delivery.deploy({
            entity,
            release,
            environment: body.environment!,
            kind,
            createdBy: actorOf(credentials),
            ...bypassOf(bypassApproval, credentials, req),
          });
        },
      );
      res.status(202).json(toApiDeployment(deployment));
    };

  router.post(
    `${entityPath}/deployments`,
    queueRelease('deploy', kubeDeliveryDeployPermission, 'deployment-create'),
  );
  router.post(
    `${entityPath}/rollbacks`,
    queueRelease('rollback', kubeDeliveryRollbackPermission, 'rollback-create'),
  );

  /** Promote and restart: act on what an environment (or the one before it) runs. */
  const redeployEnvironment =
    (action: 'promote' | 'restart', eventId: string) =>
    async (req: express.Request, res: express.Response) => {
      const found = await entityInPath(req);
      const { rest, bypassApproval } = splitBypassApproval(req.body);
      const body = readBody(rest, { environment: 'required' });
      // A promotion's target is the environment it promotes to.
      await authorizeTarget(
        found,
        kubeDeliveryDeployPermission,
        body.environment!,
      );
      const { entity, entityRef, credentials } = found;
      const input = {
        entity,
        entityRef,
        environment: body.environment!,
        createdBy: actorOf(credentials),
        ...bypassOf(bypassApproval, credentials, req),
      };
      const deployment = await audited(
        req,
        eventId,
        { entityRef, environment: body.environment, bypassApproval },
        () =>
          action === 'promote'
            ? delivery.promote(input)
            : delivery.restart(input),
      );
      res.status(202).json(toApiDeployment(deployment));
    };

  router.post(
    `${entityPath}/promotions`,
    redeployEnvironment('promote', 'promotion-create'),
  );
  router.post(
    `${entityPath}/restarts`,
    redeployEnvironment('restart', 'restart-create'),
  );

  if (options.routing) addRouteEndpoints(options.routing);
  if (options.history) {
    router.use(
      createHistoryRouter({
        entityPath,
        authorizedEntity,
        delivery,
        environments,
        history: options.history,
        // Rule values in route changes: shown to those who may route there.
        mayRoute: async ({ credentials, entityRef, environment }) =>
          (
            await authorizer.decide(
              credentials,
              [kubeDeliveryRoutePermission],
              {
                environment,
                entityRef,
              },
            )
          )[0],
      }),
    );
  }

  /** Feature-branch routing rules and the route tester. */
  function addRouteEndpoints(routing: RoutingService) {
    router.get(`${entityPath}/routes`, async (req, res) => {
      const found = await authorizedEntity(req, kubeDeliveryReadPermission);
      const query = readBody(req.query, { environment: 'optional' });
      // Rule values only to their owners and to those who may route there.
      const viewer = ruleViewerOf(found.credentials, environment =>
        mayOnTarget(found, kubeDeliveryRoutePermission, environment),
      );
      res.json({
        items: await routing.listRules(
          found.entityRef,
          query.environment,
          viewer,
        ),
      });
    });

    router.post(`${entityPath}/routes/test`, async (req, res) => {
      const { entity } = await authorizedEntity(
        req,
        kubeDeliveryReadPermission,
      );
      const { rest, extra } = splitBody(req.body, 'headers');
      const body = readBody(rest, { environment: 'required' });
      res.json(
        await routing.test({
          entity,
          environment: body.environment!,
          headers: extra,
        }),
      );
    });

    router.post(`${entityPath}/routes`, async (req, res) => {
      const found = await entityInPath(req);
      const { rest, extra } = splitBody(req.body, 'ttlMinutes');
      const body = readBody(rest, {
        environment: 'required',
        branch: 'required',
        kind: 'optional',
        key: 'optional',
        value: 'required',
      });
      await authorizeTarget(
        found,
        kubeDeliveryRoutePermission,
        body.environment!,
      );
      const { entity, entityRef, credentials } = found;
      const rule = await audited(
        req,
        'route-create',
        {
          entityRef,
          environment: body.environment,
          branch: body.branch,
          kind: body.kind ?? null,
        },
        () =>
          routing.createRule({
            entity,
            environment: body.environment!,
            branch: body.branch!,
            kind: body.kind,
            key: body.key,
            value: body.value!,
            ttlMinutes: extra,
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
    async function authorizedRule(req: express.Request) {
      const found = await entityInPath(req);
      const id = req.params.id;
      const rule = (await routing.listRules(found.entityRef)).find(
        r => r.id === id,
      );
      const isRouteAdmin = (environment: string) =>
        mayOnTarget(found, kubeDeliveryRouteAdminPermission, environment);
      if (rule) {
        await authorizeTarget(
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
          mayOnTarget(found, kubeDeliveryRoutePermission, name),
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

    router.delete(`${entityPath}/routes/:id`, async (req, res) => {
      const { entity, entityRef, credentials, isRouteAdmin } =
        await authorizedRule(req);
      const rule = await audited(
        req,
        'route-delete',
        { entityRef, id: req.params.id.slice(0, 64) },
        () =>
          routing.deleteRule(
            entity,
            req.params.id,
            actorOf(credentials),
            isRouteAdmin,
          ),
      );
      res.json(rule);
    });

    router.patch(`${entityPath}/routes/:id`, async (req, res) => {
      const { entity, entityRef, credentials, isRouteAdmin } =
        await authorizedRule(req);
      const { rest, extra } = splitBody(req.body, 'ttlMinutes');
      readBody(rest, {});
      const rule = await audited(
        req,
        'route-extend',
        { entityRef, id: req.params.id.slice(0, 64) },
        () =>
          routing.extendRule({
            entity,
            id: req.params.id,
            ttlMinutes: extra,
            actor: actorOf(credentials),
            isRouteAdmin,
          }),
      );
      res.json(rule);
    });

    // Changes routes and deletes workloads: both the route and the deploy permission there.
    router.delete(
      `${entityPath}/branches/:environment/:branch`,
      async (req, res) => {
        const found = await entityInPath(req);
        const { environment, branch } = req.params;
        await authorizeTarget(
          found,
          [kubeDeliveryRoutePermission, kubeDeliveryDeployPermission],
          environment,
        );
        const { entity, entityRef, credentials } = found;
        const removal = await audited(
          req,
          'branch-delete',
          {
            entityRef,
            environment: environment.slice(0, 64),
            branch: branch.slice(0, 128),
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

  return router;
}

/** Takes one non-string field out of a JSON body, leaving the rest for readBody. */
function splitBody(
  body: unknown,
  field: string,
): { rest: unknown; extra: unknown } {
  if (!body || typeof body !== 'object' || Array.isArray(body)) {
    return { rest: body, extra: undefined };
  }
  const { [field]: extra, ...rest } = body as Record<string, unknown>;
  return { rest, extra };
}

function requireVersion(version: string | undefined): string {
  if (!version) throw new InputError('Give either releaseId or version');
  if (!parseVersion(version)) {
    throw new InputError(
      `Version "${version.slice(
        0,
        64,
      )}" is not SemVer 2.0.0, e.g. 0.1.4 or 0.1.4-myfeature`,
    );
  }
  return version;
}

/** A deployment as the API shows it: without the runner's lease bookkeeping. */
function toApiDeployment(d: DeploymentRecord): Deployment {
  return {
    id: d.id,
    entityRef: d.entityRef,
    environment: d.environment,
    releaseId: d.releaseId,
    version: d.version,
    kind: d.kind,
    strategy: d.strategy,
    status: d.status,
    createdBy: d.createdBy,
    createdAt: d.createdAt,
    startedAt: d.startedAt,
    finishedAt: d.finishedAt,
    message: d.message,
    steps: d.steps,
    ...(d.approval && { approval: d.approval }),
  };
}
