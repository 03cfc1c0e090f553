import type { AuditorService } from '@backstage/backend-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import type { JsonObject } from '@backstage/types';
import { InputError } from '@backstage/errors';
import {
  kubeDeliveryDeployPermission,
  kubeDeliveryReadPermission,
  kubeDeliveryReleaseCreatePermission,
  kubeDeliveryRollbackPermission,
  parseVersion,
  type Deployment,
  type EnvironmentAction,
  type Release,
  type ReleaseSelector,
} from '@internal/plugin-kube-delivery-common';
import { bypassOf } from '../approvals';
import type { EnvironmentRegistry } from '../config/EnvironmentRegistry';
import { actorOf } from '../http/actor';
import type { ApiRouter } from '../http/apiRouter';
import { runAudited } from '../http/audited';
import type {
  EntityGates,
  EntityRequest,
  TargetPermission,
} from '../http/entityGates';
import { MAX_PAGE, readPage } from '../http/page';
import type { ReleaseRecord } from '../database';
import { toApiDeployment, toApiRelease } from './apiViews';
import type { DeliveryService } from './DeliveryService';

const entityPath = '/entities/:kind/:namespace/:name';

/**
 * Releases, deployments, rollbacks, promotions, restarts and the status of
 * an entity's service: reading needs `kube-delivery.read` on the entity,
 * creating a release `kube-delivery.release.create`, and every change in an
 * environment its permission on the target `<environment>:<entity ref>`.
 * Each change is an auditor event.
 */
export function addDeliveryRoutes(
  router: ApiRouter,
  options: {
    gates: EntityGates;
    auditor: AuditorService;
    environments: EnvironmentRegistry;
    delivery: DeliveryService;
  },
): void {
  const { gates, auditor, environments, delivery } = options;

  router.get(`${entityPath}/status`, async (req, res) => {
    const { entityRef } = await gates.authorizedEntity(
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
    const { entityRef } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const items = await delivery.listReleases(entityRef, MAX_PAGE);
    res.json({ items: items.map(toApiRelease) });
  });

  /** Creating a release, from a version or a feed tag: audited, 201 with the release. */
  async function createRelease(
    req: EntityRequest,
    meta: JsonObject,
    create: (entity: Entity, createdBy: string) => Promise<ReleaseRecord>,
  ): Promise<Release> {
    const { entity, entityRef, credentials } = await gates.authorizedEntity(
      req,
      kubeDeliveryReleaseCreatePermission,
    );
    const release = await runAudited(
      auditor,
      { request: req, eventId: 'release-create', meta: { entityRef, ...meta } },
      () => create(entity, actorOf(credentials)),
    );
    return toApiRelease(release);
  }

  router.post(`${entityPath}/releases`, async (req, res) => {
    const { version, image, tag, digest } = req.body;
    const release = await createRelease(req, { version }, (entity, createdBy) =>
      delivery.createRelease({
        entity,
        version,
        image,
        tag,
        digest,
        createdBy,
      }),
    );
    res.status(201).json(release);
  });

  router.post(`${entityPath}/releases/from-feed`, async (req, res) => {
    const { tag } = req.body;
    const release = await createRelease(
      req,
      { tag, fromFeed: true },
      (entity, createdBy) =>
        delivery.createReleaseFromFeed({ entity, tag, createdBy }),
    );
    res.status(201).json(release);
  });

  router.get(`${entityPath}/feed`, async (req, res) => {
    const { entity } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    res.json({ items: await delivery.listFeed(entity) });
  });

  router.get(`${entityPath}/deployments`, async (req, res) => {
    const { entityRef } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    const { environment } = req.query;
    if (environment !== undefined) environments.require(environment);
    const page = await delivery.listDeployments({
      entityRef,
      environment,
      ...readPage(req.query),
    });
    res.json({ ...page, items: page.items.map(toApiDeployment) });
  });

  router.get(`${entityPath}/deployments/:id`, async (req, res) => {
    const { entityRef } = await gates.authorizedEntity(
      req,
      kubeDeliveryReadPermission,
    );
    res.json(
      toApiDeployment(await delivery.deployment(entityRef, req.params.id)),
    );
  });

  /** Deploy and rollback: queue a deployment of a release named by id or version. */
  async function queueRelease(
    req: EntityRequest & { body: ReleaseSelector },
    kind: 'deploy' | 'rollback',
    permission: TargetPermission,
    eventId: string,
  ): Promise<Deployment> {
    const found = await gates.entityInPath(req);
    const { environment, releaseId, version } = req.body;
    const bypassApproval = req.body.bypassApproval === true;
    await gates.authorizeTarget(found, permission, environment);
    const { entity, entityRef, credentials } = found;
    const deployment = await runAudited(
      auditor,
      {
        request: req,
        eventId,
        meta: { entityRef, environment, version, releaseId, bypassApproval },
      },
      async () => {
        const release = releaseId
          ? await delivery.release(entityRef, releaseId)
          : await delivery.releaseByVersion(entityRef, requireVersion(version));
        return delivery.deploy({
          entity,
          release,
          environment,
          kind,
          createdBy: actorOf(credentials),
          ...bypassOf(bypassApproval, credentials, req),
        });
      },
    );
    return toApiDeployment(deployment);
  }

  router.post(`${entityPath}/deployments`, async (req, res) => {
    res
      .status(202)
      .json(
        await queueRelease(
          req,
          'deploy',
          kubeDeliveryDeployPermission,
          'deployment-create',
        ),
      );
  });
  router.post(`${entityPath}/rollbacks`, async (req, res) => {
    res
      .status(202)
      .json(
        await queueRelease(
          req,
          'rollback',
          kubeDeliveryRollbackPermission,
          'rollback-create',
        ),
      );
  });

  /** Promote and restart: act on what an environment (or the one before it) runs. */
  async function redeployEnvironment(
    req: EntityRequest & { body: EnvironmentAction },
    action: 'promote' | 'restart',
    eventId: string,
  ): Promise<Deployment> {
    const found = await gates.entityInPath(req);
    const { environment } = req.body;
    const bypassApproval = req.body.bypassApproval === true;
    // A promotion's target is the environment it promotes to.
    await gates.authorizeTarget(
      found,
      kubeDeliveryDeployPermission,
      environment,
    );
    const { entity, entityRef, credentials } = found;
    const input = {
      entity,
      entityRef,
      environment,
      createdBy: actorOf(credentials),
      ...bypassOf(bypassApproval, credentials, req),
    };
    const deployment = await runAudited(
      auditor,
      {
        request: req,
        eventId,
        meta: { entityRef, environment, bypassApproval },
      },
      () =>
        action === 'promote'
          ? delivery.promote(input)
          : delivery.restart(input),
    );
    return toApiDeployment(deployment);
  }

  router.post(`${entityPath}/promotions`, async (req, res) => {
    res
      .status(202)
      .json(await redeployEnvironment(req, 'promote', 'promotion-create'));
  });
  router.post(`${entityPath}/restarts`, async (req, res) => {
    res
      .status(202)
      .json(await redeployEnvironment(req, 'restart', 'restart-create'));
  });
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
